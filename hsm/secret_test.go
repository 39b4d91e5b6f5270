package hsm_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/hsm"
)

func TestSecretSourceReadsLikeThePIN(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "s3cret\n", 0o600)
	creds := t.TempDir()
	if err := os.WriteFile(filepath.Join(creds, "admin-token"), []byte("from-systemd"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, source, creds, want string
	}{
		{"reads an owner-only file", "file:" + good, "", "s3cret"},
		{"reads an absolute path", good, "", "s3cret"},
		{"reads a systemd credential", "credential:admin-token", creds, "from-systemd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := hsm.ParseSecretSource(tc.source)
			if err != nil {
				t.Fatal(err)
			}
			got, err := src.Read(tc.creds)
			if err != nil || string(got) != tc.want {
				t.Fatalf("%q %v", got, err)
			}
		})
	}
	for _, tc := range []struct {
		name, source, creds, wantMsg string
	}{
		{"refuses a file readable by others", "file:" + write("open", "x", 0o644), "", "mode 0644"},
		{"refuses a file readable by the group", "file:" + write("group", "x", 0o640), "", "mode 0640"},
		{"refuses a missing file", "file:" + filepath.Join(dir, "absent"), "", "no such file"},
		{"refuses a directory", "file:" + dir, "", "not a regular file"},
		{"refuses an empty file", "file:" + write("empty", "\n", 0o600), "", "empty"},
		{"refuses two lines", "file:" + write("two", "a\nb\n", 0o600), "", "one line"},
		{"refuses a credential without $CREDENTIALS_DIRECTORY", "credential:admin-token", "", "CREDENTIALS_DIRECTORY"},
		{"names the LoadCredential= line a missing credential needs", "credential:absent-token", creds, "LoadCredential=absent-token:PATH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := hsm.ParseSecretSource(tc.source)
			if err != nil {
				t.Fatal(err)
			}
			_, err = src.Read(tc.creds)
			if !errors.Is(err, hsm.ErrSecretSource) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("got %v, want %s", err, tc.wantMsg)
			}
		})
	}
	for _, bad := range []string{"relative/path", "file:relative", "credential:", "credential:a/b", "https://x", "file://host/x", "/a/../b"} {
		if _, err := hsm.ParseSecretSource(bad); !errors.Is(err, hsm.ErrSecretSource) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
