package vc_test

import (
	"testing"

	"github.com/rampart-signer/rampart/vc"
)

func TestPlaceholderFeeRecipient(t *testing.T) {
	for addr, want := range map[string]bool{
		"0x0000000000000000000000000000000000000001": true, // the shipped example's
		"0x00000000000000000000000000000000000000fe": true,
		"0x1111111111111111111111111111111111111111": true,
		"0xffffffffffffffffffffffffffffffffffffffff": true,
		"0x468c15d616B52FCEf0B932BF89D42157984BE2A5": false,
		"0x0000000000000000000000000000000000000101": false,
		"not an address": false,
	} {
		if got := vc.PlaceholderFeeRecipient(addr); got != want {
			t.Errorf("%s: %v, want %v", addr, got, want)
		}
	}
}
