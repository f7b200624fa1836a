package server

import "net/http"

// Authorize runs auth as configured by opts on a GET /events request for
// topics carrying tok as a Bearer token, and returns the status it would
// answer: 0 when allowed. It panics when opts are invalid.
func Authorize(opts AuthOptions, tok string, topics []string) int {
	a, err := newAuth(opts)
	if err != nil {
		panic(err)
	}
	r, err := http.NewRequest(http.MethodGet, "/events", nil)
	if err != nil {
		panic(err)
	}
	r.Header.Set("Authorization", "Bearer "+tok)
	claims, aerr := a.authenticate(r)
	if aerr == nil {
		aerr = a.authorizeSubscribe(claims, topics)
	}
	if aerr != nil {
		return aerr.status
	}
	return 0
}

// MercureTopics and MercureTopicsOf expose the Mercure topic mapping to
// the black-box tests.
var (
	MercureTopics   = mercureTopics
	MercureTopicsOf = mercureTopicsOf
)
