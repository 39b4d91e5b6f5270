package chaos

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

func writeAudit(t *testing.T, dir string) {
	t.Helper()
	rotated := `{"seq":1,"kind":"file","note":"opened"}
{"seq":2,"kind":"partial","type":"ATTESTATION","signing_root":"0x11","public_keys":["0xa1","0xb2"],"hash":"h"}
{"seq":3,"kind":"partial","type":"SYNC_COMMITTEE_MESSAGE","signing_root":"0x99","public_key":"0xa1","hash":"h"}
`
	var buf []byte
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	buf = enc.EncodeAll([]byte(rotated), nil)
	enc.Close()
	if err := os.WriteFile(filepath.Join(dir, "audit-00000000000000000001-20261207T000000Z.log.zst"), buf, 0o600); err != nil {
		t.Fatal(err)
	}
	current := `{"seq":4,"kind":"partial","type":"BLOCK_V2","signing_root":"0x22","public_key":"0xA1","hash":"h"}
{"seq":5,"kind":"full","type":"BLOCK_V2","signing_root":"0x77","public_key":"0xa1","hash":"h"}
{"seq":6,"kind":"partial","type":"ATTESTATION","signing_root":"0x33","public_key":"0xb2","ha`
	if err := os.WriteFile(filepath.Join(dir, "audit-00000000000000000004-20261207T000100Z.log"), []byte(current), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCheckApprovalsFindsAReleasedPartialTheDatabaseLost(t *testing.T) {
	dir := t.TempDir()
	writeAudit(t, dir)
	// The database kept the batch attestation for both keys but lost the
	// block: signer 3 could sign a second block for that slot.
	export := `{"metadata":{},"data":[
{"pubkey":"0xa1","signed_blocks":[],"signed_attestations":[{"source_epoch":"1","target_epoch":"2","signing_root":"0x11"}]},
{"pubkey":"0xb2","signed_blocks":[],"signed_attestations":[{"source_epoch":"1","target_epoch":"2","signing_root":"0x11"}]}]}`
	c, err := CheckApprovals(3, dir, []byte(export), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Released: a1/x, b2/x, a1/y (block); the torn last line vouches for
	// nothing; sync messages and full signatures are not slashable
	// partials.
	if c.Partials != 3 {
		t.Errorf("%d slashable partials read, want 3", c.Partials)
	}
	if len(c.Missing) != 1 || c.Missing[0] != "0xa1 0x22" {
		t.Errorf("missing %v, want the block of key a1", c.Missing)
	}
}

func TestCheckApprovalsPassesWhenEverythingIsKept(t *testing.T) {
	dir := t.TempDir()
	writeAudit(t, dir)
	export := `{"data":[
{"pubkey":"0xA1","signed_blocks":[{"slot":"5","signing_root":"0x22"}],"signed_attestations":[{"source_epoch":"1","target_epoch":"2","signing_root":"0x11"}]},
{"pubkey":"0xb2","signed_blocks":[],"signed_attestations":[{"source_epoch":"1","target_epoch":"2","signing_root":"0x11"},{"source_epoch":"2","target_epoch":"3","signing_root":"0x33"}]}]}`
	c, err := CheckApprovals(1, dir, []byte(export), nil)
	if err != nil || len(c.Missing) != 0 {
		t.Fatalf("%v %v", c.Missing, err)
	}
}

func TestCheckApprovalsTellsAnUnfinishedCommitFromALostApproval(t *testing.T) {
	dir := t.TempDir()
	lines := `{"seq":1,"time":"2026-12-07T04:00:00Z","kind":"partial","type":"BLOCK_V2","signing_root":"0x01","public_key":"0xa1"}
{"seq":2,"time":"2026-12-07T04:00:10Z","kind":"partial","type":"BLOCK_V2","signing_root":"0x02","public_key":"0xa1"}
`
	if err := os.WriteFile(filepath.Join(dir, "audit-00000000000000000001-20261207T040000Z.log"), []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	// The signer was killed 2 s after the second record: its commit may
	// not have completed. The first is a minute older: lost.
	kill := time.Date(2026, 12, 7, 4, 0, 12, 0, time.UTC)
	c, err := CheckApprovals(2, dir, []byte(`{"data":[]}`), []time.Time{kill})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Unreleased) != 1 || c.Unreleased[0] != "0xa1 0x02" || len(c.Missing) != 1 || c.Missing[0] != "0xa1 0x01" {
		t.Errorf("unreleased %v, lost %v", c.Unreleased, c.Missing)
	}
}

func TestDBFailuresAreReadFromTheSignersLog(t *testing.T) {
	log := filepath.Join(t.TempDir(), "signer.log")
	body := "time=2026-12-07T04:05:31.255Z level=ERROR msg=\"slashing protection database failed a write; restart required\"\ntime=2026-12-07T04:05:32Z level=INFO msg=other\n"
	if err := os.WriteFile(log, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	got := dbFailures(log)
	if len(got) != 1 || !got[0].Equal(time.Date(2026, 12, 7, 4, 5, 31, 255e6, time.UTC)) {
		t.Errorf("failures %v", got)
	}
}
