package redis

import "github.com/heraldsse/herald/presence"

// Encode and Decode expose the record format to the fuzz test.
func Encode(s presence.Subscription) string { return encode(&s) }

// Decode is decode, for the fuzz test.
var Decode = decode
