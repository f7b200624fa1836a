package server

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Mercure topics in herald's topic index (docs/mercure.md, "Topics").
//
// A Mercure topic is any string (usually a URL); a herald topic is at most
// 256 bytes of '/'-separated, non-empty segments without '*'. Each Mercure
// topic T becomes one herald topic of two segments, MercurePrefix and T
// escaped into one segment: '%', '/', '*' and control characters
// percent-encoded, nothing else. So exact matchers are herald topics
// (a map lookup in the hub's index), and "mercure/*" is the whole namespace.
//
// A topic whose escaped form does not fit is named by its hash instead,
// "mercure/%~" and the SHA-256 of T in base64url: exact matchers still map to
// it. Its text, which URL patterns and tokens need, travels with the update
// as carrier topics "mercure/%~<hash>/<i>/<chunk>", the escaped form cut in
// chunks; no Mercure subscription matches them ("mercure/*" is one segment).
// Escaping never writes '%' followed by '~', so a hashed name is never the
// escaped form of another topic.

// MercurePrefix starts every herald topic that holds a Mercure topic.
// Publishing to it through /events is refused: updates there are the
// Mercure endpoint's, under its own authorization.
const MercurePrefix = "mercure/"

// mercureNamespace is the herald pattern of every Mercure topic.
const mercureNamespace = MercurePrefix + "*"

const (
	maxHeraldTopic = 256  // herald's topic length limit (internal/topic)
	hashedMark     = "%~" // starts the segment of a hashed topic
	chunkSize      = 160  // bytes of escaped text per carrier topic
)

// escapeSegment escapes t into one herald topic segment.
func escapeSegment(t string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(t))
	for i := 0; i < len(t); {
		r, n := utf8.DecodeRuneInString(t[i:])
		if r == '%' || r == '/' || r == '*' || unicode.IsControl(r) || r == utf8.RuneError && n == 1 {
			for _, c := range []byte(t[i : i+n]) {
				b.WriteByte('%')
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&15])
			}
		} else {
			b.WriteString(t[i : i+n])
		}
		i += n
	}
	return b.String()
}

// unescapeSegment reverses escapeSegment; ok is false for a segment
// escapeSegment cannot have written.
func unescapeSegment(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), true
}

// mercureTopics maps an update's Mercure topics (canonical first) to the
// herald topic it is published on and its Also: the other topics in order,
// then the carriers of hashed ones.
func mercureTopics(topics []string) (topic string, also []string) {
	var carriers []string
	for i, t := range topics {
		name, chunks := heraldTopic(t, true)
		if i == 0 {
			topic = name
		} else {
			also = append(also, name)
		}
		if len(chunks) > 0 && slices.Contains(carriers, chunks[0]) {
			continue // a long topic named twice is carried once
		}
		carriers = append(carriers, chunks...)
	}
	return topic, append(also, carriers...)
}

// heraldTopic returns the herald topic of the Mercure topic t and, when it
// is hashed and withCarriers is set, its carriers.
func heraldTopic(t string, withCarriers bool) (string, []string) {
	esc := escapeSegment(t)
	if esc != "" && len(MercurePrefix)+len(esc) <= maxHeraldTopic {
		return MercurePrefix + esc, nil
	}
	sum := sha256.Sum256([]byte(t))
	name := MercurePrefix + hashedMark + base64.RawURLEncoding.EncodeToString(sum[:])
	if !withCarriers {
		return name, nil
	}
	var carriers []string
	for i := 0; esc != ""; i++ {
		n := min(chunkSize, len(esc))
		for n < len(esc) && !utf8.RuneStart(esc[n]) {
			n--
		}
		carriers = append(carriers, name+"/"+strconv.Itoa(i)+"/"+esc[:n])
		esc = esc[n:]
	}
	if len(carriers) == 0 { // the empty topic
		carriers = append(carriers, name+"/0/"+hashedMark)
	}
	return name, carriers
}

// mercureTopicsOf returns the Mercure topics of an event published on the
// herald topics of c (its topic, then its Also), in order: the inverse of
// mercureTopics. A topic outside the namespace, or that no Mercure topic
// maps to, is left out.
func mercureTopicsOf(heraldTopics []string) []string {
	out := make([]string, 0, len(heraldTopics))
	var chunks map[string][]string // hashed name → escaped chunks, in order
	for _, h := range heraldTopics {
		seg, ok := strings.CutPrefix(h, MercurePrefix)
		if !ok {
			continue
		}
		name, rest, carrier := strings.Cut(seg, "/")
		if !carrier {
			continue
		}
		idx, chunk, ok := strings.Cut(rest, "/")
		if !ok || !strings.HasPrefix(name, hashedMark) {
			continue
		}
		if chunks == nil {
			chunks = make(map[string][]string)
		}
		if chunk == hashedMark {
			chunk = ""
		}
		if idx != strconv.Itoa(len(chunks[name])) {
			continue // a repeated or out-of-order chunk
		}
		chunks[name] = append(chunks[name], chunk)
	}
	for _, h := range heraldTopics {
		seg, ok := strings.CutPrefix(h, MercurePrefix)
		if !ok || strings.Contains(seg, "/") {
			continue
		}
		if strings.HasPrefix(seg, hashedMark) {
			c, ok := chunks[seg]
			if !ok {
				continue
			}
			seg = strings.Join(c, "")
			if seg == "" {
				out = append(out, "")
				continue
			}
		}
		if t, ok := unescapeSegment(seg); ok {
			out = append(out, t)
		}
	}
	return out
}
