package server

import "errors"

// errDraining refuses Mercure's subscription API on a node shutting down,
// whose own subscriptions are ending: the Mercure handler answers 503, and
// the client asks another node, as GET /presence does.
var errDraining = errors.New("not listing subscriptions: shutting down")
