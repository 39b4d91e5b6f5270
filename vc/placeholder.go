package vc

import (
	"encoding/hex"
	"strings"
)

// PlaceholderFeeRecipient reports whether addr (0x-prefixed hex) looks like
// a placeholder rather than an operator's address: nineteen zero bytes
// then anything (0x...0001, the shipped example's), or twenty equal bytes
// (0x1111..., 0xffff...). Fees sent there are lost; rampart-vc
// --check-config refuses it and the client warns at start.
func PlaceholderFeeRecipient(addr string) bool {
	b, err := hex.DecodeString(strings.TrimPrefix(addr, "0x"))
	if err != nil || len(b) != 20 {
		return false
	}
	zeros, same := 0, true
	for i, c := range b {
		if c == 0 && i < 19 {
			zeros++
		}
		if c != b[0] {
			same = false
		}
	}
	return zeros == 19 || same
}
