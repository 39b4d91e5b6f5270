package hsm_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/hsm"
)

const softhsmModule = "/usr/lib/softhsm/libsofthsm2.so"

func TestParseURIAccepts(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want hsm.URI
	}{
		{
			name: "accepts token, object, module and PIN file",
			in:   "pkcs11:token=signer-1;object=rampart-seal?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/rampart/hsm.pin",
			want: hsm.URI{Token: "signer-1", Object: "rampart-seal", ModulePath: softhsmModule, PINSource: "file:/etc/rampart/hsm.pin"},
		},
		{
			name: "accepts percent-encoded labels and binary ids",
			in:   "pkcs11:token=My%20Token;object=a%3Bb%2Fc;id=%01%02%ff?pin-source=/run/pin",
			want: hsm.URI{Token: "My Token", Object: "a;b/c", ID: []byte{1, 2, 0xff}, PINSource: "/run/pin"},
		},
		{
			name: "accepts token selection by manufacturer, model and serial as p11tool prints it",
			in:   "pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=1a2b3c4d5e6f;token=signer-1;type=secret-key",
			want: hsm.URI{Token: "signer-1", Manufacturer: "SoftHSM project", Model: "SoftHSM v2", Serial: "1a2b3c4d5e6f", Type: "secret-key"},
		},
		{
			name: "accepts a systemd credential as PIN source",
			in:   "pkcs11:token=t?pin-source=credential:hsm-pin",
			want: hsm.URI{Token: "t", PINSource: "credential:hsm-pin"},
		},
		{
			name: "accepts an upper-case scheme",
			in:   "PKCS11:token=t",
			want: hsm.URI{Token: "t"},
		},
		{
			name: "accepts an empty path",
			in:   "pkcs11:",
			want: hsm.URI{},
		},
		{
			name: "accepts reserved characters RFC 7512 leaves unescaped",
			in:   "pkcs11:token=a:b@c!$'()*+,=&?module-path=/x/y?z|w",
			want: hsm.URI{Token: "a:b@c!$'()*+,=&", ModulePath: "/x/y?z|w"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := hsm.ParseURI(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !u.Equal(&tc.want) {
				t.Fatalf("got %+v, want %+v", u, tc.want)
			}
			back, err := hsm.ParseURI(u.Encode())
			if err != nil || !back.Equal(u) {
				t.Fatalf("round trip through %q: %+v, %v", u.Encode(), back, err)
			}
		})
	}
}

func TestParseURIRefuses(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"refuses another scheme", "pkcs12:token=t"},
		{"refuses a missing scheme", "token=t"},
		{"refuses pin-value", "pkcs11:token=t?pin-value=123456"},
		{"refuses pin-value in the path", "pkcs11:token=t;pin-value=123456"},
		{"refuses module-name", "pkcs11:token=t?module-name=softhsm2"},
		{"refuses a relative module-path", "pkcs11:token=t?module-path=lib/softhsm2.so"},
		{"refuses an unclean module-path", "pkcs11:token=t?module-path=/usr/lib/../lib/x.so"},
		{"refuses a relative pin-source", "pkcs11:token=t?pin-source=hsm.pin"},
		{"refuses an unclean pin-source", "pkcs11:token=t?pin-source=/etc/./pin"},
		{"refuses a remote file pin-source", "pkcs11:token=t?pin-source=file://host/etc/pin"},
		{"refuses an unknown pin-source scheme", "pkcs11:token=t?pin-source=https:/x"},
		{"refuses a credential name with a slash", "pkcs11:token=t?pin-source=credential:a/b"},
		{"refuses an empty credential name", "pkcs11:token=t?pin-source=credential:"},
		{"refuses a duplicated attribute", "pkcs11:token=a;token=b"},
		{"refuses an unknown path attribute", "pkcs11:token=t;slot-id=3"},
		{"refuses an unknown query attribute", "pkcs11:token=t?x-vendor=1"},
		{"refuses an empty value", "pkcs11:token="},
		{"refuses an attribute without value", "pkcs11:token"},
		{"refuses an upper-case attribute name", "pkcs11:Token=t"},
		{"refuses an unescaped space", "pkcs11:token=my token"},
		{"refuses an unescaped slash in the path", "pkcs11:object=a/b"},
		{"refuses a truncated percent escape", "pkcs11:token=a%2"},
		{"refuses a non-hex percent escape", "pkcs11:token=a%zz"},
		{"refuses an empty query", "pkcs11:token=t?"},
		{"refuses a token label over 32 bytes", "pkcs11:token=" + strings.Repeat("a", 33)},
		{"refuses a control character in a label", "pkcs11:object=a%0Ab"},
		{"refuses a label that is not UTF-8", "pkcs11:object=%ff%fe"},
		{"refuses an unknown object type", "pkcs11:type=secret"},
		{"refuses an id over 64 bytes", "pkcs11:id=" + strings.Repeat("%00", 65)},
		{"refuses a query attribute in the path", "pkcs11:module-path=/x"},
		{"refuses over-long input", "pkcs11:token=t;object=" + strings.Repeat("a", 20000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := hsm.ParseURI(tc.in)
			if !errors.Is(err, hsm.ErrInvalidURI) {
				t.Fatalf("got %+v, %v; want ErrInvalidURI", u, err)
			}
		})
	}
}

func TestParseURINeverEchoesPIN(t *testing.T) {
	const pin = "s3cr3t-pin-9876"
	for _, in := range []string{
		"pkcs11:token=t?pin-value=" + pin,
		"pkcs11:token=t;pin-value=" + pin,
		"pkcs11:token=t?pin-source=" + pin,
		"pkcs11:token=" + pin + " x",
	} {
		_, err := hsm.ParseURI(in)
		if err == nil || strings.Contains(err.Error(), pin) {
			t.Errorf("%q: error %v echoes the value", in, err)
		}
	}
}

func TestURIRedactsQueryInLogsAndErrors(t *testing.T) {
	u, err := hsm.ParseURI("pkcs11:token=signer-1;object=k?module-path=/opt/hsm/vendor.so&pin-source=/etc/rampart/secret.pin")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("opening", "uri", u)
	for _, out := range []string{u.String(), logs.String()} {
		if strings.Contains(out, "secret.pin") || strings.Contains(out, "vendor.so") || !strings.Contains(out, "token=signer-1") {
			t.Errorf("not redacted: %q", out)
		}
	}
	if !strings.Contains(u.Encode(), "pin-source=/etc/rampart/secret.pin") {
		t.Errorf("Encode lost the PIN source: %q", u.Encode())
	}
}

// FuzzParseURI checks that parsing never panics and that every accepted
// URI survives Encode and ParseURI unchanged.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"pkcs11:token=signer-1;object=rampart-seal?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/rampart/hsm.pin",
		"pkcs11:token=My%20Token;object=a%3Bb;id=%01%02%ff?pin-source=credential:pin",
		"pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=1a2b;token=t;type=private",
		"pkcs11:token=a:b@c!$'()*+,=&?module-path=/x/y?z|w",
		"pkcs11:token=t?pin-value=1234",
		"pkcs11:",
		"pkcs11:token=%",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := hsm.ParseURI(s)
		if err != nil {
			if !errors.Is(err, hsm.ErrInvalidURI) {
				t.Fatalf("error %v does not wrap ErrInvalidURI", err)
			}
			return
		}
		enc := u.Encode()
		back, err := hsm.ParseURI(enc)
		if err != nil {
			t.Fatalf("%q parsed but its encoding %q does not: %v", s, enc, err)
		}
		if !back.Equal(u) || back.Encode() != enc {
			t.Fatalf("round trip changed %+v into %+v", u, back)
		}
	})
}
