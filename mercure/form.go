package mercure

import (
	"strings"
)

// formPair is one name/value pair of a form, percent-decoded.
type formPair struct{ name, value string }

// parseForm splits s by the application/x-www-form-urlencoded parser of the
// WHATWG URL Standard: sequences split on "&", empty ones skipped, each split
// at its first "=" (a name alone has the empty value), "+" read as a space,
// then percent-decoded, a "%" not followed by two hex digits kept as it is.
// Unlike the standard, which replaces invalid UTF-8 with U+FFFD, it leaves
// the bytes as they are: the draft requires UTF-8, so callers reject them.
// each is called for every pair in order; parseForm stops at the first error
// each returns.
func parseForm(s string, each func(formPair) error) error {
	for s != "" {
		var seq string
		seq, s, _ = strings.Cut(s, "&")
		if seq == "" {
			continue
		}
		name, value, _ := strings.Cut(seq, "=")
		if err := each(formPair{formDecode(name), formDecode(value)}); err != nil {
			return err
		}
	}
	return nil
}

// formDecode replaces "+" with a space and percent-decodes s.
func formDecode(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}
