package keystore

import (
	"fmt"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// normalizePassword applies EIP-2335's password processing: NFKD, then
// remove the C0 (U+0000-U+001F), DEL (U+007F) and C1 (U+0080-U+009F)
// control codes, then UTF-8. The caller zeroes the result.
func normalizePassword(pw []byte) ([]byte, error) {
	if !utf8.Valid(pw) {
		return nil, fmt.Errorf("%w", ErrPassword)
	}
	// Append into a fresh buffer: Bytes may return pw itself, which must not
	// be cleared here (the caller may use it for several keystores).
	nfkd := norm.NFKD.Append(nil, pw...)
	defer clear(nfkd)
	out := make([]byte, 0, len(nfkd))
	for i := 0; i < len(nfkd); {
		r, size := utf8.DecodeRune(nfkd[i:])
		if r >= 0x20 && (r < 0x7f || r > 0x9f) {
			out = append(out, nfkd[i:i+size]...)
		}
		i += size
	}
	return out, nil
}
