package mercure

import (
	"unicode"
	"unicode/utf8"
)

// checkText applies the draft's character rule for topics, matchers, IDs
// and event types (Terminology, Publication): valid UTF-8, no C0 control
// (U+0000–U+001F), no DEL (U+007F), no C1 control (U+0080–U+009F), and no
// format character (general category Cf, which Go's tables, Unicode 15.0,
// give the same 170 code points as Unicode 17.0, the version the draft
// cites).
func checkText(s string) error {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return errControl
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return errNotUTF8
		}
		if r <= 0x9f {
			return errControl
		}
		if unicode.Is(unicode.Cf, r) {
			return errFormatChr
		}
		i += n
	}
	return nil
}

// isDigits reports whether s is one or more ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
