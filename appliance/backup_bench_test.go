package appliance_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/backup"
	"github.com/rampart-signer/rampart/protect"
)

// BenchmarkBackupRestore10000 measures, on a 2-of-3 loopback cluster of
// real signers holding 10,000 validators with a history of 8 blocks and 64
// attestations each: rampartctl backup create's transfer (the running
// signer's backup endpoint, read into memory and verified) and a restore
// onto an empty disk with both peers' exports merged, and a restore over
// the existing database. Run with -benchtime 1x:
//
//	go test -run '^$' -bench BackupRestore10000 -benchtime 1x ./appliance
func BenchmarkBackupRestore10000(b *testing.B) {
	const validators = 10_000
	tc := newTestCluster(b, 3, 2, validators)
	_, admins := admin(b, tc.lc)
	ctx := context.Background()
	// A history for every key, merged into every signer.
	history := &protect.Interchange{GenesisValidatorsRoot: protect.Root(tc.net.GenesisValidatorsRoot())}
	for _, k := range tc.keys {
		v := protect.InterchangeValidator{PublicKey: protect.PublicKey(k)}
		for i := range uint64(8) {
			v.SignedBlocks = append(v.SignedBlocks, protect.SignedBlock{Slot: 1000 + i*32*8, SigningRoot: protect.Root{byte(i), 1}, HasSigningRoot: true})
		}
		for i := range uint64(64) {
			v.SignedAttestations = append(v.SignedAttestations, protect.SignedAttestation{SourceEpoch: 100 + i, TargetEpoch: 101 + i, SigningRoot: protect.Root{byte(i), 2}, HasSigningRoot: true})
		}
		history.Data = append(history.Data, v)
	}
	for _, p := range admins {
		for i := 0; i < len(history.Data); i += 500 {
			part := &protect.Interchange{GenesisValidatorsRoot: history.GenesisValidatorsRoot, Data: history.Data[i:min(i+500, len(history.Data))]}
			raw, _ := part.Marshal()
			if _, err := p.MergeSlashing(ctx, &adminapi.MergeRequest{SlashingProtection: raw}); err != nil {
				b.Fatal(err)
			}
		}
	}
	var exports []*protect.Interchange
	for _, p := range admins[1:] {
		raw, err := p.ExportSlashing(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		ic, err := protect.ParseInterchange(raw)
		if err != nil {
			b.Fatal(err)
		}
		exports = append(exports, ic)
	}
	cfg := tc.lc.Signers[0].Config
	for b.Loop() {
		start := time.Now()
		var archive bytes.Buffer
		if _, err := admins[0].Backup(ctx, &archive); err != nil {
			b.Fatal(err)
		}
		a, err := backup.Open(bytes.NewReader(archive.Bytes()), "bench.tar", b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		b.ReportMetric(took.Seconds(), "backup-s")
		b.ReportMetric(float64(archive.Len())/(1<<20), "backup-MiB")

		target, err := cfg.RestoreTarget(tc.net, time.Now(), time.Second)
		if err != nil {
			b.Fatal(err)
		}
		fresh := b.TempDir()
		target.Database = filepath.Join(fresh, "slashing-protection.db")
		target.SharesDir = filepath.Join(fresh, "shares")
		target.AuditDir = filepath.Join(fresh, "audit")
		target.Merge = exports
		start = time.Now()
		rep, err := backup.Restore(ctx, a, target)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "restore-new-disk-s")
		if rep.SharesRestored != validators || rep.Validators != validators {
			b.Fatalf("%+v", rep)
		}
		start = time.Now()
		if _, err := backup.Restore(ctx, a, target); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "restore-merge-s")
		os.RemoveAll(fresh)
	}
}
