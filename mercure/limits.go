package mercure

// Limits bounds what one request may ask of the hub (draft-dunglas-mercure,
// "Resource Limits"). A zero field means its default, given in its comment.
type Limits struct {
	// MaxBody is the largest publish (or QUERY subscribe) body, in bytes.
	// Zero means 1 MiB. Over it: 413 (publish), 400 (subscribe).
	MaxBody int64
	// MaxData is the largest publish data field, in bytes. Zero means
	// 256 KiB, herald's limit on an event's data. Over it: 413.
	MaxData int
	// MaxField is the largest value of any other publish field (topic, id,
	// type, retry) and of the reconnection cursor, in bytes. Zero means
	// 2048. Over it: 413 on publish, 400 on subscribe.
	MaxField int
	// MaxTopics is how many topic fields one publish may carry (the
	// canonical topic and its alternates). Zero means 32. Over it: 413.
	MaxTopics int
	// MaxMatchers is how many matcher parameters one subscribe may carry.
	// Zero means 32. Over it: 400.
	MaxMatchers int
	// MaxURLPatterns is how many of those may be match_urlpattern. Zero
	// means 8. Over it: 400.
	MaxURLPatterns int
	// MaxMatcherLength is the longest matcher value, in a subscribe request
	// or in a token, in bytes. Zero means 2048. Over it: 400 (request) or
	// 401 invalid_token (token).
	MaxMatcherLength int
	// MaxURLPatternLength is the longest URL pattern, in a request or a
	// token, in bytes: tighter than MaxMatcherLength because a pattern's
	// matching cost grows with its length. Zero means 256. Over it: 400
	// (request) or 401 invalid_token (token).
	MaxURLPatternLength int
	// MaxPatternGroups is how many groups and wildcards (":name", "*",
	// "(...)") one URL pattern may have, in a request or a token. Zero means
	// 16. Over it: 400 (request) or 401 invalid_token (token).
	MaxPatternGroups int
	// MaxTokenBytes is the longest access token, in bytes. Zero means
	// 64 KiB. Over it: 401 invalid_token.
	MaxTokenBytes int
	// MaxDetails is how many Mercure authorization details one token may
	// carry. Zero means 32. Over it: 401 invalid_token.
	MaxDetails int
	// MaxDetailTopics is how many topic matchers one authorization detail
	// may list. Zero means 64. Over it: 401 invalid_token.
	MaxDetailTopics int
	// PatternCache is how many compiled URL patterns the hub keeps, shared
	// by every subscriber and token. Zero means 4096.
	PatternCache int
}

// withDefaults returns l with every zero field set to its default.
func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if l.MaxBody <= 0 {
		l.MaxBody = 1 << 20
	}
	def(&l.MaxData, 256<<10)
	def(&l.MaxField, 2048)
	def(&l.MaxTopics, 32)
	def(&l.MaxMatchers, 32)
	def(&l.MaxURLPatterns, 8)
	def(&l.MaxMatcherLength, 2048)
	def(&l.MaxURLPatternLength, 256)
	def(&l.MaxPatternGroups, 16)
	def(&l.MaxTokenBytes, 64<<10)
	def(&l.MaxDetails, 32)
	def(&l.MaxDetailTopics, 64)
	def(&l.PatternCache, 4096)
	return l
}
