package mercure

import "errors"

// Sentinel errors. Every error the parsers return wraps exactly one of the
// first three, which decides the HTTP status [Handler] answers with; a
// [Hub] may also return one wrapping ErrUnavailable or ErrTooManyRequests.
var (
	// ErrBadRequest marks a request the draft says to reject with 400 Bad
	// Request: a missing or invalid field or parameter.
	ErrBadRequest = errors.New("mercure: bad request")

	// ErrTooLarge marks a publish request over one of the limits: the body,
	// a field, or the number of topics (413 Content Too Large).
	ErrTooLarge = errors.New("mercure: request too large")

	// ErrUnsupportedMediaType marks a publish request whose body is not
	// application/x-www-form-urlencoded in UTF-8 (415).
	ErrUnsupportedMediaType = errors.New("mercure: unsupported media type")

	// ErrUnavailable marks a hub error meaning the hub cannot serve now:
	// it is shutting down, or its storage cannot be reached or is behind.
	// The handler answers 503 Service Unavailable with Retry-After.
	ErrUnavailable = errors.New("mercure: hub unavailable")

	// ErrTooManyRequests marks a hub error refusing a subscriber over one
	// of the hub's limits on open streams (429 Too Many Requests).
	ErrTooManyRequests = errors.New("mercure: too many streams")

	// ErrReservedTopic marks a publish whose topic is "*" or lies in the hub's
	// reserved namespace. It also wraps ErrBadRequest.
	ErrReservedTopic = errors.New("mercure: reserved topic")

	// ErrNoToken is returned by [Handler.Authenticate] when the request
	// carries no access token.
	ErrNoToken = errors.New("mercure: no access token")

	// ErrInvalidToken is returned by [Handler.Authenticate] when a token is
	// presented but fails validation: signature, algorithm, typ, exp, nbf,
	// iss, aud, or its authorization details.
	ErrInvalidToken = errors.New("mercure: invalid access token")

	// ErrInvalidRequest is returned by [Handler.Authenticate] when the token's
	// presentation is malformed: an Authorization header that is not
	// "Bearer <token>".
	ErrInvalidRequest = errors.New("mercure: malformed token presentation")

	// ErrNoKey is returned by [New] when AuthOptions has no publisher key.
	ErrNoKey = errors.New("mercure: no publisher key")

	// ErrNoHub is returned by [New] when Options.Hub is nil.
	ErrNoHub = errors.New("mercure: no hub")

	// ErrNotFound marks a subscription API path that names no resource: of
	// another shape, or a subscription that is not active (404). A
	// [SubscriptionSource] returns it for an unknown subscriber.
	ErrNotFound = errors.New("mercure: not found")
)

// What checkText finds wrong with a value, wrapped with the value's name
// and ErrBadRequest by its callers.
var (
	errNotUTF8   = errors.New("is not valid UTF-8")
	errControl   = errors.New("contains a control character")
	errFormatChr = errors.New("contains an invisible format character (Unicode Cf)")
)
