package clusterfile_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/internal/clusterfile"
)

const valid = `network:
  name: hoodi
cluster_id: local
threshold: 3
ca: /etc/rampart/ca.pem
participants:
  - {id: 1, endpoint: "https://127.0.0.1:9101", tls_name: signer-1}
  - {id: 2, endpoint: "https://127.0.0.1:9102", tls_name: signer-2}
  - {id: 3, endpoint: "https://127.0.0.1:9103", tls_name: signer-3}
  - {id: 4, endpoint: "https://127.0.0.1:9104", tls_name: signer-4}
  - {id: 5, endpoint: "https://127.0.0.1:9105", tls_name: signer-5}
client:
  name: vc-1
  certificate: vc-1.pem
  key: vc-1.key
accounts:
  - "0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c"
`

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, field string
	}{
		{"accepts the example", "", "", ""},
		{"refuses an unknown field", "cluster_id: local", "cluster_id: local\nclusterid: x", "clusterid"},
		{"refuses a missing network", "network:\n  name: hoodi\n", "", "network"},
		{"refuses an unknown network name", "name: hoodi", "name: nonet", "network.name"},
		{"refuses a network given twice", "name: hoodi", "name: hoodi\n  config: /x.yaml", "network"},
		{"refuses a config without its root", "name: hoodi", "config: /x.yaml", "network.genesis_validators_root"},
		{"refuses a malformed root", "name: hoodi", "config: /x.yaml\n  genesis_validators_root: 0x12", "network.genesis_validators_root"},
		{"refuses a genesis time for a built-in network", "name: hoodi", "name: hoodi\n  genesis_time: 1742213400", "network.genesis_time"},
		{"refuses a plain http endpoint", `"https://127.0.0.1:9102"`, `"http://127.0.0.1:9102"`, "participants[1].endpoint"},
		{"refuses an endpoint with a path", `"https://127.0.0.1:9102"`, `"https://127.0.0.1:9102/api"`, "participants[1].endpoint"},
		{"refuses an endpoint listed twice", `"https://127.0.0.1:9102"`, `"https://127.0.0.1:9101"`, "participants[1].endpoint"},
		{"refuses a zero id", "id: 2,", "id: 0,", "participants[1].id"},
		{"refuses a repeated id", "id: 2,", "id: 1,", "participants"},
		{"refuses a missing tls name", "tls_name: signer-2", "tls_name: \"\"", "participants[1].tls_name"},
		{"refuses a threshold at half", "threshold: 3", "threshold: 2", "threshold"},
		{"refuses a missing CA", "ca: /etc/rampart/ca.pem", "", "ca"},
		{"refuses a client without a key", "  key: vc-1.key\n", "", "client.key"},
		{"refuses a malformed account", `"0xa99a`, `"0xzz9a`, "accounts[0]"},
		{"refuses a second document", "", "---\nca: x\n", "more than one"},
		{"refuses a token on the validator client", "  key: vc-1.key\n", "  key: vc-1.key\n  token: file:/x\n", "client.token"},
		{"refuses an administrator's token source that is not a file or credential", "client:\n", "admin: {name: op, certificate: op.pem, key: op.key, token: /x}\nclient:\n", "admin.token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := strings.Replace(valid, tc.old, tc.new, 1)
			if tc.old == "" {
				data = valid + tc.new
			}
			cf, err := clusterfile.Parse([]byte(data))
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(cf.Participants) != 5 || cf.Client.Name != "vc-1" {
					t.Fatalf("parsed %+v", cf)
				}
				return
			}
			if err == nil || !errors.Is(err, clusterfile.ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v; want ErrInvalid naming %q", err, tc.field)
			}
		})
	}
}

func TestAbsResolvesRelativePathsOnly(t *testing.T) {
	cf, err := clusterfile.Parse([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	cf.Client.Key = "pkcs11:token=vc;object=tls"
	cf.Abs("/srv/cluster")
	if cf.CA != "/etc/rampart/ca.pem" || cf.Client.Certificate != "/srv/cluster/vc-1.pem" || cf.Client.Key != "pkcs11:token=vc;object=tls" {
		t.Fatalf("Abs gave ca %q, certificate %q, key %q", cf.CA, cf.Client.Certificate, cf.Client.Key)
	}
}

func TestAbsResolvesTheAdministrativeTokenFile(t *testing.T) {
	for _, tc := range []struct{ token, want string }{
		{"file:admin.token", "file:/srv/cluster/admin.token"},
		{"file:/etc/rampart/admin.token", "file:/etc/rampart/admin.token"},
		{"credential:admin-token", "credential:admin-token"},
	} {
		cf, err := clusterfile.Parse([]byte(strings.Replace(valid, "client:\n", "admin: {name: op, certificate: op.pem, key: op.key, token: \""+tc.token+"\"}\nclient:\n", 1)))
		if err != nil {
			t.Fatal(err)
		}
		cf.Abs("/srv/cluster")
		if cf.Admin.Token != tc.want {
			t.Errorf("%s: %s, want %s", tc.token, cf.Admin.Token, tc.want)
		}
	}
}

func TestWriteRoundTrip(t *testing.T) {
	cf, err := clusterfile.Parse([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := cf.Write(path); err != nil {
		t.Fatal(err)
	}
	back, err := clusterfile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := cf.Marshal()
	b, _ := back.Marshal()
	if string(a) != string(b) {
		t.Fatalf("round trip changed the file:\n%s\n%s", a, b)
	}
}

// writeIdentity makes a CA and a client certificate signed by it in dir,
// with the key file at mode keyMode.
func writeIdentity(t *testing.T, dir string, keyMode os.FileMode) (caPath, certPath, keyPath string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "vc-1"}, DNSNames: []string{"vc-1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	caPath, certPath, keyPath = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "vc.pem"), filepath.Join(dir, "vc.key")
	for _, f := range []struct {
		path string
		typ  string
		der  []byte
		mode os.FileMode
	}{{caPath, "CERTIFICATE", caDER, 0o644}, {certPath, "CERTIFICATE", der, 0o644}, {keyPath, "EC PRIVATE KEY", keyDER, keyMode}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f.path, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	return caPath, certPath, keyPath
}

func TestTLSConfig(t *testing.T) {
	ctx := context.Background()
	t.Run("loads a PEM identity with the CA as the only root", func(t *testing.T) {
		cf, _ := clusterfile.Parse([]byte(valid))
		ca, cert, key := writeIdentity(t, t.TempDir(), 0o600)
		cf.CA, cf.Client.Certificate, cf.Client.Key = ca, cert, key
		tc, release, err := cf.TLSConfig(ctx, cf.Client, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		if tc.MinVersion != tls.VersionTLS13 || len(tc.Certificates) != 1 || tc.RootCAs == nil {
			t.Fatalf("config %+v", tc)
		}
		ps, err := cf.HTTPParticipants(tc)
		if err != nil || len(ps) != 5 || ps[4].ID() != 5 {
			t.Fatalf("participants %v, %v", ps, err)
		}
	})
	t.Run("refuses a key others can read", func(t *testing.T) {
		cf, _ := clusterfile.Parse([]byte(valid))
		ca, cert, key := writeIdentity(t, t.TempDir(), 0o644)
		cf.CA, cf.Client.Certificate, cf.Client.Key = ca, cert, key
		if _, _, err := cf.TLSConfig(ctx, cf.Client, nil); err == nil || !strings.Contains(err.Error(), "owner-only") {
			t.Fatalf("error %v; want the key refused as not owner-only", err)
		}
	})
	t.Run("refuses an HSM key without a loader", func(t *testing.T) {
		cf, _ := clusterfile.Parse([]byte(valid))
		ca, cert, _ := writeIdentity(t, t.TempDir(), 0o600)
		cf.CA, cf.Client.Certificate, cf.Client.Key = ca, cert, "pkcs11:token=vc;object=tls"
		if _, _, err := cf.TLSConfig(ctx, cf.Client, nil); err == nil || !strings.Contains(err.Error(), "pkcs11") {
			t.Fatalf("error %v; want HSM keys refused", err)
		}
	})
	t.Run("passes an HSM key to the loader", func(t *testing.T) {
		cf, _ := clusterfile.Parse([]byte(valid))
		ca, cert, _ := writeIdentity(t, t.TempDir(), 0o600)
		cf.CA, cf.Client.Certificate, cf.Client.Key = ca, cert, "pkcs11:token=vc;object=tls"
		var gotURI string
		released := false
		loader := func(_ context.Context, uri string, chain []byte) (tls.Certificate, func(), error) {
			gotURI = uri
			return tls.Certificate{Certificate: [][]byte{chain}}, func() { released = true }, nil
		}
		_, release, err := cf.TLSConfig(ctx, cf.Client, loader)
		if err != nil || gotURI != cf.Client.Key {
			t.Fatalf("loader got %q, %v", gotURI, err)
		}
		release()
		if !released {
			t.Fatal("release did not reach the loader's release")
		}
	})
	t.Run("refuses a missing identity", func(t *testing.T) {
		cf, _ := clusterfile.Parse([]byte(valid))
		if _, _, err := cf.TLSConfig(ctx, cf.Admin, nil); !errors.Is(err, clusterfile.ErrNoIdentity) {
			t.Fatalf("error %v; want ErrNoIdentity", err)
		}
	})
}

// FuzzParse: no input panics, and whatever parses writes out and parses
// back to the same file.
func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte("network: {name: mainnet}\nca: x\nparticipants: [{id: 1, endpoint: \"https://a:1\", tls_name: a}]\n"))
	f.Add([]byte("participants: [{id: 0}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := clusterfile.Parse(data)
		if err != nil {
			return
		}
		out, err := cf.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := clusterfile.Parse(out)
		if err != nil {
			t.Fatalf("re-parse of written file: %v\n%s", err, out)
		}
		again, _ := back.Marshal()
		if string(again) != string(out) {
			t.Fatalf("round trip changed the file:\n%s\n%s", out, again)
		}
	})
}
