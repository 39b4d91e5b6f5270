package appliance_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/backup"
	"github.com/rampart-signer/rampart/protect"
)

// TestDisasterRecoveryDrill is the drill of docs/operations.md on a 2-of-3
// loopback cluster of real signers (SoftHSM, mutual TLS, bbolt): signer 1
// is backed up while it signs, signs more, then loses its disk entirely
// (data directory and configuration; its HSM survives). It is rebuilt from
// the backup, with its history merged from the healthy peers' exports, and
// comes back: it refuses to contradict what it signed after the backup,
// which the backup never saw, and signs again once the chain has moved past
// the raised watermarks, with signer 3 down so that its partial is needed.
func TestDisasterRecoveryDrill(t *testing.T) {
	clock := newFakeClock(time.Now())
	tc := newTestClusterWithClock(t, clock, 3, 2, 2, grantEverything("vc-1"))
	_, admins := admin(t, tc.lc)
	ctx := context.Background()
	epoch, _ := tc.net.LatestEpochAt(clock.Now())
	e := uint64(epoch)
	key := tc.keys[0]

	before := attestationRequest(tc.net, e-3, e-2, 0x11)
	tc.checkSigned("before the backup", tc.sign(0, key, before), key, before)
	var archive bytes.Buffer
	if _, err := admins[0].Backup(ctx, &archive); err != nil {
		t.Fatal(err)
	}
	after := attestationRequest(tc.net, e-2, e-1, 0x22)
	tc.checkSigned("after the backup", tc.sign(0, key, after), key, after)

	// The disk is lost: data directory and configuration.
	s := tc.lc.Signers[0]
	tc.stop(0)
	conf, err := os.ReadFile(s.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(s.Config.DataDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(s.ConfigPath); err != nil {
		t.Fatal(err)
	}

	// Rebuilt: the backup verified, its configuration back in place, the
	// peers' histories fetched while they sign on.
	a, err := backup.Open(bytes.NewReader(archive.Bytes()), "signer-1.tar", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	restored, err := os.ReadFile(a.Path(backup.ConfigName))
	if err != nil || !bytes.Equal(restored, conf) {
		t.Fatalf("the backup's configuration is not the signer's: %v", err)
	}
	if err := os.WriteFile(s.ConfigPath, restored, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := appliance.Load(s.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	target, err := cfg.RestoreTarget(tc.net, clock.Now(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range admins[1:] {
		raw, err := p.ExportSlashing(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		ic, err := protect.ParseInterchange(raw)
		if err != nil {
			t.Fatal(err)
		}
		target.Merge = append(target.Merge, ic)
	}
	rep, err := backup.Restore(ctx, a, target)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.DatabaseCreated || rep.SharesRestored != 2 || rep.Validators != 2 || rep.MergedFromPeers != 4 || rep.AuditLossAcknowledged == nil || rep.FloorEpoch != e+1 {
		t.Fatalf("restore report %+v (floor want %d)", rep, e+1)
	}
	tc.restart(0)

	// What signer 1 signed after the backup cannot be contradicted: a
	// double vote on its target, asked of signer 1 alone.
	double := attestationRequest(tc.net, e-2, e-1, 0x23)
	if r := post(t, tc.client(0, "vc-1"), tc.url(0, appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign/"+key.String()), double); r.code != http.StatusPreconditionFailed {
		t.Fatalf("double vote after the restore: %d %s", r.code, r.body)
	}
	// Nor anything up to the raised watermark (epoch e+1): it may have
	// signed that far ahead before the disk was lost.
	if r := post(t, tc.client(0, "vc-1"), tc.url(0, appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign/"+key.String()), attestationRequest(tc.net, e, e+1, 0x24)); r.code != http.StatusPreconditionFailed {
		t.Fatalf("attestation at the watermark: %d %s", r.code, r.body)
	}
	// Back in service: one epoch later, with signer 3 down, the cluster
	// signs through signer 1, whose partial is needed.
	tc.stop(2)
	clock.Advance(time.Duration(tc.net.Preset().SlotsPerEpoch) * 12 * time.Second)
	next := attestationRequest(tc.net, e+1, e+2, 0x31)
	tc.checkSigned("back in service", tc.sign(0, key, next), key, next)
}

// TestBackupRefusesWhatIsNotTheSignersOrDamaged: a restore checks the
// backup is the signer's and whole before it changes anything.
func TestBackupRefusesWhatIsNotTheSignersOrDamaged(t *testing.T) {
	tc := newTestCluster(t, 3, 2, 1)
	_, admins := admin(t, tc.lc)
	ctx := context.Background()
	var archive bytes.Buffer
	if _, err := admins[1].Backup(ctx, &archive); err != nil {
		t.Fatal(err)
	}
	open := func(b []byte) (*backup.Archive, error) {
		return backup.Open(bytes.NewReader(b), "b.tar", t.TempDir())
	}
	a, err := open(archive.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if a.Manifest.Node != 2 || a.Manifest.Validators != 1 || a.Manifest.Shares != 1 || !a.Has(backup.ConfigName) {
		t.Fatalf("manifest %+v", a.Manifest)
	}

	t.Run("a flipped byte in a member", func(t *testing.T) {
		b := bytes.Clone(archive.Bytes())
		i := bytes.Index(b, []byte(`"signed_attestations"`))
		b[i+1] = 'S'
		if _, err := open(b); !errors.Is(err, backup.ErrChecksum) || !strings.Contains(err.Error(), backup.InterchangeNm) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("an archive cut short", func(t *testing.T) {
		if _, err := open(archive.Bytes()[:archive.Len()/2]); !errors.Is(err, backup.ErrIncomplete) && !errors.Is(err, backup.ErrChecksum) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("another node's backup", func(t *testing.T) {
		target, err := tc.lc.Signers[0].Config.RestoreTarget(tc.net, time.Now(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		target.Database = filepath.Join(t.TempDir(), "db")
		if _, err := backup.Restore(ctx, a, target); !errors.Is(err, backup.ErrWrongSigner) || !strings.Contains(err.Error(), "node 2") {
			t.Fatalf("%v", err)
		}
		if _, err := os.Stat(target.Database); err == nil {
			t.Fatal("a refused restore wrote the database")
		}
	})
	t.Run("a running signer's database", func(t *testing.T) {
		target, err := tc.lc.Signers[1].Config.RestoreTarget(tc.net, time.Now(), 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := backup.Restore(ctx, a, target); !errors.Is(err, protect.ErrInUse) {
			t.Fatalf("%v", err)
		}
	})
}
