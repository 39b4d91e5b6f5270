package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rampart-signer/rampart/appliance/audit"
	"github.com/rampart-signer/rampart/appliance/internal/files"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/protect"
)

// Target is the stopped signer a backup is restored to, as its
// configuration gives it.
type Target struct {
	// Cluster (cluster.id) and Node (node.id) must be the backup's.
	Cluster string
	Node    uint64
	// GenesisValidatorsRoot is the configured network's.
	GenesisValidatorsRoot protect.Root
	// Database, SharesDir and AuditDir are slashing.database,
	// accounts.shares_dir and audit.dir.
	Database, SharesDir, AuditDir string
	// Protect opens the database: its Limit must allow FloorEpoch.
	Protect protect.Config
	// FloorEpoch is the epoch every key's watermarks are raised to before
	// the signer signs again: the network's current epoch by the wall
	// clock plus the signer's slashing.future_epochs, the furthest it may
	// have signed up to since the backup was taken.
	FloorEpoch uint64
	// Merge are further histories to merge, such as the healthy peers'
	// exports after this signer lost its disk; only keys this signer holds
	// a share or a history of are taken from them.
	Merge []*protect.Interchange
	// Own is called on every file and directory Restore creates, parents
	// before what they hold (the service user's ownership when run as
	// root); nil does nothing.
	Own func(path string) error
}

// Report says what Restore did.
type Report struct {
	// DatabaseCreated: there was no database; the backup's copy was put
	// in place. Otherwise the backup's history was merged into it.
	DatabaseCreated bool
	// SharesRestored were written; SharesKept were on disk already, the
	// same.
	SharesRestored, SharesKept int
	// Validators counts the keys of the database after the restore.
	Validators int
	// MergedFromPeers counts the records' keys taken from Target.Merge.
	MergedFromPeers int
	// AuditLossAcknowledged is set when the audit log was gone: the
	// database's anchor now notes the records up to it as lost, and the
	// signer's next start writes a reset record (rampartctl audit
	// acknowledge-loss does the same).
	AuditLossAcknowledged *audit.Anchor
	// FloorEpoch is the epoch the watermarks were raised to.
	FloorEpoch uint64
}

// Restore restores archive a into the stopped signer t. It checks that the
// backup is the signer's (cluster, node, network) before it changes
// anything, then
//
//   - writes every sealed share missing from the shares directory (one
//     present and different is an error naming its account: nothing is
//     ever overwritten);
//   - puts the backup's database in place if there is none, else merges
//     the backup's history into the database, record by record (protect
//     Import: a record is only ever added, a watermark only rises);
//   - merges t.Merge likewise;
//   - raises every key's low watermarks to t.FloorEpoch, so that whatever
//     was signed between the backup and now cannot be signed again in
//     conflict: protection never moves backwards.
//
// A running signer holds the database's lock: Restore then fails with
// protect.ErrInUse and has changed nothing but missing shares.
func Restore(ctx context.Context, a *Archive, t Target) (*Report, error) {
	m := a.Manifest
	switch {
	case m.Cluster != t.Cluster:
		return nil, fmt.Errorf("%w: the backup is of cluster %q, this signer's cluster.id is %q", ErrWrongSigner, m.Cluster, t.Cluster)
	case m.Node != t.Node:
		return nil, fmt.Errorf("%w: the backup is of node %d, this signer's node.id is %d: restore each signer's own backup", ErrWrongSigner, m.Node, t.Node)
	case m.GenesisValidatorsRoot != t.GenesisValidatorsRoot.String():
		return nil, fmt.Errorf("%w: the backup is for genesis validators root %s, this signer's network has %s", ErrWrongSigner, m.GenesisValidatorsRoot, t.GenesisValidatorsRoot)
	}
	raw, err := os.ReadFile(a.Path(InterchangeNm))
	if err != nil {
		return nil, err
	}
	history, err := protect.ParseInterchange(raw)
	if err != nil {
		return nil, fmt.Errorf("backup: %s: %w", InterchangeNm, err)
	}
	if history.GenesisValidatorsRoot != t.GenesisValidatorsRoot {
		return nil, fmt.Errorf("%w: %s is for genesis validators root %s, this signer's network has %s", ErrWrongSigner, InterchangeNm, history.GenesisValidatorsRoot, t.GenesisValidatorsRoot)
	}
	for i, ic := range t.Merge {
		if ic.GenesisValidatorsRoot != t.GenesisValidatorsRoot {
			return nil, fmt.Errorf("%w: history %d to merge is for genesis validators root %s, this signer's network has %s", protect.ErrWrongNetwork, i+1, ic.GenesisValidatorsRoot, t.GenesisValidatorsRoot)
		}
	}
	rep := &Report{FloorEpoch: t.FloorEpoch}
	if err := restoreShares(a, t, rep); err != nil {
		return rep, err
	}

	db, err := protect.Open(ctx, t.Database, t.Protect)
	if errors.Is(err, fs.ErrNotExist) {
		return rep, placeDatabase(ctx, history, a, t, rep)
	}
	if err != nil {
		return rep, fmt.Errorf("slashing.database %s: %w", t.Database, err)
	}
	err = merge(ctx, db, history, a, t, rep)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return rep, err
}

func merge(ctx context.Context, db *protect.DB, history *protect.Interchange, a *Archive, t Target, rep *Report) error {
	if db.GenesisValidatorsRoot() != t.GenesisValidatorsRoot {
		return fmt.Errorf("%w: slashing.database %s is for genesis validators root %s, this signer's network has %s", ErrWrongSigner, t.Database, db.GenesisValidatorsRoot(), t.GenesisValidatorsRoot)
	}
	if !rep.DatabaseCreated {
		if _, err := db.Import(ctx, history, protect.RaiseWatermarks()); err != nil {
			return fmt.Errorf("merging the backup's history: %w", err)
		}
	} else if err := acknowledgeAuditLoss(db, t, rep); err != nil {
		return err
	}
	// The keys this signer holds: its history's and its shares'.
	mine := map[protect.PublicKey]bool{}
	for _, k := range db.Keys() {
		mine[k] = true
	}
	for _, k := range a.ShareKeys() {
		mine[protect.PublicKey(k)] = true
	}
	for i, ic := range t.Merge {
		kept := &protect.Interchange{GenesisValidatorsRoot: ic.GenesisValidatorsRoot}
		for _, v := range ic.Data {
			if mine[v.PublicKey] {
				kept.Data = append(kept.Data, v)
			}
		}
		if len(kept.Data) == 0 {
			continue
		}
		res, err := db.Import(ctx, kept, protect.RaiseWatermarks())
		if err != nil {
			return fmt.Errorf("merging history %d: %w", i+1, err)
		}
		rep.MergedFromPeers += len(res)
	}
	keys := db.Keys()
	if len(keys) > 0 {
		if _, err := db.Import(ctx, Floors(t.GenesisValidatorsRoot, keys, t.FloorEpoch, t.Protect.SlotsPerEpoch), protect.RaiseWatermarks()); err != nil {
			return fmt.Errorf("raising the watermarks to epoch %d: %w", t.FloorEpoch, err)
		}
	}
	rep.Validators = len(keys)
	return nil
}

// Floors is the interchange whose import with protect.RaiseWatermarks
// raises every key's watermarks to epoch: no block at or below the last
// slot of epoch, no attestation with a source below epoch or a target at
// or below it. Nothing signed up to epoch can then be contradicted.
func Floors(gvr protect.Root, keys []protect.PublicKey, epoch, slotsPerEpoch uint64) *protect.Interchange {
	ic := &protect.Interchange{GenesisValidatorsRoot: gvr, Data: make([]protect.InterchangeValidator, len(keys))}
	slot := (epoch+1)*slotsPerEpoch - 1
	for i, k := range keys {
		ic.Data[i] = protect.InterchangeValidator{
			PublicKey:          k,
			SignedBlocks:       []protect.SignedBlock{{Slot: slot}},
			SignedAttestations: []protect.SignedAttestation{{SourceEpoch: epoch, TargetEpoch: epoch}},
		}
	}
	return ic
}

// acknowledgeAuditLoss notes in a database just put in place from the
// backup that the audit records it anchors are lost when the audit log
// is gone (a lost disk): the signer would refuse to start otherwise.
func acknowledgeAuditLoss(db *protect.DB, t Target, rep *Report) error {
	ents, err := os.ReadDir(t.AuditDir)
	if err == nil && len(ents) > 0 {
		return nil // the log is there: the signer checks it against the anchor
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("audit.dir %s: %w", t.AuditDir, err)
	}
	v, ok := db.Anchor(audit.AnchorName)
	if !ok {
		return nil
	}
	an, err := audit.ParseAnchor(string(v))
	if err != nil {
		return fmt.Errorf("the backup's audit anchor: %w", err)
	}
	if an.Seq == 0 {
		return nil // nothing anchored, or a loss already acknowledged
	}
	lost := audit.Anchor{Lost: &audit.Anchor{Seq: an.Seq, Head: an.Head, Checkpoint: an.Checkpoint}}
	b, err := lost.MarshalJSON()
	if err != nil {
		return err
	}
	if err := db.SetAnchor(audit.AnchorName, b); err != nil {
		return err
	}
	rep.AuditLossAcknowledged = lost.Lost
	return nil
}

func restoreShares(a *Archive, t Target, rep *Report) error {
	keys := a.ShareKeys()
	if len(keys) == 0 {
		return nil
	}
	if err := mkdirOwned(t, t.SharesDir); err != nil {
		return fmt.Errorf("accounts.shares_dir: %w", err)
	}
	for _, k := range keys {
		name := files.ShareName(api.PublicKey(k))
		blob, err := os.ReadFile(a.Path(SharesDir + "/" + name))
		if err != nil {
			return err
		}
		dst := filepath.Join(t.SharesDir, name)
		have, err := os.ReadFile(dst)
		switch {
		case err == nil && bytes.Equal(have, blob):
			rep.SharesKept++
			continue
		case err == nil:
			return fmt.Errorf("%w: account %s: %s is not the backup's share (a different share under the same key); move it aside if the backup is right", ErrShareDiffers, k, dst)
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		if err := files.WriteSynced(dst, blob, 0o600); err != nil {
			return err
		}
		if err := own(t, dst); err != nil {
			return err
		}
		rep.SharesRestored++
	}
	// One directory sync for every share renamed into place.
	return files.SyncDir(t.SharesDir)
}

// placeDatabase restores a signer that has no slashing database: it
// copies the backup's database to a synced temporary file beside
// t.Database, does every merge on that copy (the audit loss acknowledged,
// the peers' histories, the watermarks raised to t.FloorEpoch), and only
// then links it into place, with a link that fails if a database appeared
// meanwhile. A restore that fails or is interrupted part way leaves no
// database behind, so a signer never starts on the backup's history
// without the raised watermarks (a database placed first and merged after
// would have been one).
func placeDatabase(ctx context.Context, history *protect.Interchange, a *Archive, t Target, rep *Report) error {
	dir := filepath.Dir(t.Database)
	if err := mkdirOwned(t, dir); err != nil {
		return fmt.Errorf("slashing.database: %w", err)
	}
	in, err := os.Open(a.Path(DatabaseName))
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(t.Database)+".restore-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err != nil {
		return fmt.Errorf("copying the backup's database beside %s: %w", t.Database, err)
	}
	rep.DatabaseCreated = true
	db, err := protect.Open(ctx, tmp.Name(), t.Protect)
	if err != nil {
		return fmt.Errorf("the backup's slashing database: %w", err)
	}
	err = merge(ctx, db, history, a, t, rep)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%w (nothing was placed at %s; run the restore again)", err, t.Database)
	}
	if err := os.Link(tmp.Name(), t.Database); err != nil {
		return fmt.Errorf("placing the restored database at %s: %w", t.Database, err)
	}
	if err := files.SyncDir(dir); err != nil {
		return err
	}
	return own(t, t.Database)
}

// mkdirOwned makes dir and its missing parents (mode 0700) and gives each
// directory it made to t.Own, parents first: a shares directory made by a
// restore run as root onto an emptied state directory is the service
// user's, as the unit's StateDirectory= would have made it, and so are the
// shares written into it.
func mkdirOwned(t Target, dir string) error {
	var made []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		made = append(made, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for i := len(made) - 1; i >= 0; i-- {
		if err := own(t, made[i]); err != nil {
			return err
		}
	}
	return nil
}

func own(t Target, path string) error {
	if t.Own == nil {
		return nil
	}
	return t.Own(path)
}
