package clusterfile_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/clusterfile"
)

func accountKey(i int) string { return fmt.Sprintf("0x%096x", i+1) }

// TestClusterFileHoldsOneHundredThousandAccounts is the regression test
// for the cluster file's 1 MiB cliff (about 10,000 validators; rampart-vc,
// rampartctl dkg, import and exit all failed past it): 100,000 accounts
// are added, the file loads, and the bound grows with the accounts.
func TestClusterFileHoldsOneHundredThousandAccounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(path, []byte(valid), 0o644); err != nil {
		t.Fatal(err)
	}
	const n = 100_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = accountKey(i)
	}
	added, err := clusterfile.AddAccounts(path, keys)
	if err != nil || added != n {
		t.Fatalf("added %d: %v", added, err)
	}
	st, _ := os.Stat(path)
	if st.Size() <= 1<<20 {
		t.Fatalf("%d bytes: the test does not cross the old bound", st.Size())
	}
	cf, err := clusterfile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.Accounts) != n+1 || cf.Accounts[n] != keys[n-1] {
		t.Fatalf("%d accounts loaded", len(cf.Accounts))
	}
	// Adding them again adds nothing.
	if added, err := clusterfile.AddAccounts(path, keys[:10]); err != nil || added != 0 {
		t.Fatalf("again: %d %v", added, err)
	}
	t.Logf("%d accounts: %d bytes", n+1, st.Size())
}

// TestAddAccountsKeepsTheOperatorsComments is the regression test for
// rampartctl dkg rewriting the cluster file without the operator's
// comments.
func TestAddAccountsKeepsTheOperatorsComments(t *testing.T) {
	commented := "# Production cluster, owned by the staking team.\n" +
		strings.Replace(strings.Replace(valid, "threshold: 3\n", "# 3-of-5: two signers may be down.\nthreshold: 3 # do not lower\n", 1),
			"accounts:\n", "accounts:\n  # batch 1, 2026-01-10\n", 1)
	for _, tc := range []struct{ name, file string }{
		{"with an accounts list", commented},
		{"without one", commented[:strings.Index(commented, "accounts:")]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cluster.yaml")
			if err := os.WriteFile(path, []byte(tc.file), 0o640); err != nil {
				t.Fatal(err)
			}
			if _, err := clusterfile.AddAccounts(path, []string{accountKey(7)}); err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(path)
			for _, want := range []string{"# Production cluster, owned by the staking team.", "# 3-of-5: two signers may be down.", "# do not lower", accountKey(7)} {
				if !strings.Contains(string(data), want) {
					t.Errorf("lost %q:\n%s", want, data)
				}
			}
			if strings.Contains(tc.file, "batch 1") && !strings.Contains(string(data), "# batch 1, 2026-01-10") {
				t.Errorf("lost the accounts' comment:\n%s", data)
			}
			if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
				t.Errorf("mode %v", st.Mode().Perm())
			}
			if _, err := clusterfile.Load(path); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("refuses a key that is not one, leaving the file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cluster.yaml")
		os.WriteFile(path, []byte(commented), 0o644)
		if _, err := clusterfile.AddAccounts(path, []string{"0x1234"}); err == nil || !strings.Contains(err.Error(), "accounts[1]") {
			t.Fatalf("%v", err)
		}
		if data, _ := os.ReadFile(path); string(data) != commented {
			t.Fatal("a refused edit changed the file")
		}
	})
}
