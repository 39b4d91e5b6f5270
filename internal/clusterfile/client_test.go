package clusterfile_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/internal/clusterfile"
)

func TestClientConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*clusterfile.ClientConfig)
		field string
	}{
		{"accepts the defaults", func(*clusterfile.ClientConfig) {}, ""},
		{"accepts a hedge delay of zero", func(c *clusterfile.ClientConfig) { c.HedgeDelay = 0 }, ""},
		{"refuses a missing cluster file", func(c *clusterfile.ClientConfig) { c.File = "" }, "cluster.file"},
		{"refuses a certificate without its key", func(c *clusterfile.ClientConfig) { c.Certificate = "c.pem" }, "cluster.key"},
		{"refuses a key without its certificate", func(c *clusterfile.ClientConfig) { c.Key = "c.key" }, "cluster.key"},
		{"refuses a zero signer timeout", func(c *clusterfile.ClientConfig) { c.Timeout = 0 }, "cluster.timeout"},
		{"refuses a signer timeout over a minute", func(c *clusterfile.ClientConfig) { c.Timeout = time.Hour }, "cluster.timeout"},
		{"refuses a negative hedge delay", func(c *clusterfile.ClientConfig) { c.HedgeDelay = -time.Second }, "cluster.hedge_delay"},
		{"refuses a hedge delay over a minute", func(c *clusterfile.ClientConfig) { c.HedgeDelay = time.Hour }, "cluster.hedge_delay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := clusterfile.DefaultClientConfig()
			tc.edit(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.field+":") {
				t.Fatalf("got %v, want an error naming %s", err, tc.field)
			}
		})
	}
}

func TestClientConfigAbsResolvesRelativePathsOnly(t *testing.T) {
	c := clusterfile.ClientConfig{File: "cluster.yaml", Certificate: "/etc/vc.pem", Key: "pkcs11:token=t;object=k"}
	c.Abs("/etc/rampart")
	want := clusterfile.ClientConfig{File: "/etc/rampart/cluster.yaml", Certificate: "/etc/vc.pem", Key: "pkcs11:token=t;object=k"}
	if c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
}

// Open presents the configuration's certificate when it names one, the
// cluster file's client entry otherwise, and refuses to start with neither.
func TestClientConfigOpenChoosesTheIdentity(t *testing.T) {
	dir := t.TempDir()
	with := filepath.Join(dir, "with.yaml")
	without := filepath.Join(dir, "without.yaml")
	if err := os.WriteFile(with, []byte(valid), 0o600); err != nil {
		t.Fatal(err)
	}
	noClient := valid[:strings.Index(valid, "client:")] + valid[strings.Index(valid, "accounts:"):]
	if err := os.WriteFile(without, []byte(noClient), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg := clusterfile.DefaultClientConfig()
	cfg.File = with
	cl, err := cfg.Open(ctx, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	if cl.Identity.Name != "vc-1" || cl.Identity.Certificate != filepath.Join(dir, "vc-1.pem") || cl.Network.Name() != "hoodi" {
		t.Fatalf("identity %+v, network %s: want the file's client entry, paths next to the file", cl.Identity, cl.Network.Name())
	}
	cfg.Certificate, cfg.Key = "/etc/gw.pem", "/etc/gw.key"
	if cl, err = cfg.Open(ctx, "gateway"); err != nil || cl.Identity.Name != "gateway" || cl.Identity.Certificate != "/etc/gw.pem" {
		t.Fatalf("%+v, %v: want the configured certificate", cl, err)
	}
	cfg = clusterfile.DefaultClientConfig()
	cfg.File = without
	if _, err := cfg.Open(ctx, "gateway"); err == nil || !strings.HasPrefix(err.Error(), "cluster.certificate:") {
		t.Fatalf("got %v, want cluster.certificate required", err)
	}
	cfg.File = filepath.Join(dir, "missing.yaml")
	if _, err := cfg.Open(ctx, "gateway"); err == nil || !strings.HasPrefix(err.Error(), "cluster.file:") {
		t.Fatalf("got %v, want an error naming cluster.file", err)
	}
}
