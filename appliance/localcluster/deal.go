package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/internal/files"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/protect"
	"github.com/rampart-signer/rampart/tss"
)

// dealer is one signer as the dealer sees it.
type dealer struct {
	cfg  *appliance.Config
	tok  *hsm.Token
	seal *hsm.SealingKey
}

// Deal creates validators by a trusted dealer, for development clusters
// and tests only: for each, a fresh key split
// threshold-of-n among the signers of cfgs (every signer of one cluster),
// each share sealed with that signer's HSM, staged in its shares directory,
// and the key registered in its slashing protection database (created when
// missing). Share files appear only after every share of every validator
// was written; on any error none appears. Whole keys exist in this process
// only between generation and splitting, and are zeroed then: this is for
// development clusters and tests; production uses distributed key
// generation.
func Deal(ctx context.Context, cfgs []*appliance.Config, validators, threshold int, random io.Reader) ([]api.PublicKey, error) {
	return deal(ctx, cfgs, validators, threshold, random, false, 0)
}

// DealMembers is Deal among some of a cluster's signers (cfgs, each in
// the cluster, not necessarily all of it): the shares name their members
// and generation (sealed share version 2), as a resharing to those
// signers would leave them.
func DealMembers(ctx context.Context, cfgs []*appliance.Config, validators, threshold int, random io.Reader, generation uint64) ([]api.PublicKey, error) {
	return deal(ctx, cfgs, validators, threshold, random, true, generation)
}

func deal(ctx context.Context, cfgs []*appliance.Config, validators, threshold int, random io.Reader, named bool, generation uint64) ([]api.PublicKey, error) {
	signers := make([]*dealer, 0, len(cfgs))
	defer func() {
		for _, s := range signers {
			s.tok.Close()
		}
	}()
	var ids []tss.ID
	for _, cfg := range cfgs {
		if len(signers) > 0 {
			first := signers[0].cfg
			if cfg.Cluster.ID != first.Cluster.ID || len(cfg.Cluster.Participants) != len(first.Cluster.Participants) {
				return nil, fmt.Errorf("signer %d: cluster.id or cluster.participants differ from signer %d's", cfg.Node.ID, first.Node.ID)
			}
		}
		uri, _ := hsm.ParseURI(cfg.HSM.SealingKey)
		tok, err := hsm.Open(ctx, uri, hsm.DefaultOptions())
		if err != nil {
			return nil, fmt.Errorf("signer %d: hsm.sealing_key: %w", cfg.Node.ID, err)
		}
		s := &dealer{cfg: cfg, tok: tok}
		signers = append(signers, s)
		if s.seal, err = tok.SealingKey(ctx, uri.ObjectRef()); err != nil {
			return nil, fmt.Errorf("signer %d: hsm.sealing_key: %w", cfg.Node.ID, err)
		}
		ids = append(ids, tss.ID(cfg.Node.ID))
	}
	if err := tss.CheckIDs(ids); err != nil {
		return nil, fmt.Errorf("the signers' node.id values: %w", err)
	}
	var members []uint64
	if named {
		for _, id := range ids {
			if !slices.ContainsFunc(signers[0].cfg.Cluster.Participants, func(p appliance.ParticipantConfig) bool { return p.ID == uint64(id) }) {
				return nil, fmt.Errorf("signer %d is not in the cluster", id)
			}
			members = append(members, uint64(id))
		}
		slices.Sort(members)
	} else if len(ids) != len(signers[0].cfg.Cluster.Participants) {
		return nil, fmt.Errorf("%d signers given, the cluster has %d", len(ids), len(signers[0].cfg.Cluster.Participants))
	} else {
		for _, id := range ids {
			members = append(members, uint64(id)) // every participant, named
		}
		slices.Sort(members)
	}
	if err := tss.CheckThreshold(threshold, len(ids)); err != nil {
		return nil, fmt.Errorf("threshold: %w", err)
	}
	sort.Slice(signers, func(i, j int) bool { return signers[i].cfg.Node.ID < signers[j].cfg.Node.ID })

	var commits []func() error
	var discards []func()
	succeeded := false
	defer func() {
		if !succeeded {
			for _, d := range discards {
				d()
			}
		}
	}()
	keys := make([]api.PublicKey, 0, validators)
	for v := 0; v < validators; v++ {
		sk, err := bls.GenerateSecretKey(random)
		if err != nil {
			return nil, err
		}
		d, err := tss.Split(random, sk, threshold, ids)
		composite := sk.PublicKey()
		sk.Zero()
		if err != nil {
			return nil, err
		}
		key := api.PublicKey(composite.Bytes())
		for i, s := range signers {
			sh := d.Shares[i]
			raw := sh.Bytes()
			skShare, err := bls.SecretKeyFromBytes(raw[:])
			clear(raw[:])
			if err != nil {
				d.Zero()
				return nil, err
			}
			blob, err := s.seal.Seal(ctx, skShare, hsm.Binding{ClusterID: s.cfg.ClusterID(), Participant: s.cfg.Node.ID, Threshold: uint64(threshold), CompositeKey: composite, Members: members, Generation: generation})
			skShare.Zero()
			if err != nil {
				d.Zero()
				return nil, fmt.Errorf("signer %d: sealing: %w", s.cfg.Node.ID, err)
			}
			if err := os.MkdirAll(s.cfg.Accounts.SharesDir, 0o700); err != nil {
				d.Zero()
				return nil, err
			}
			commit, discard, err := files.StageShare(s.cfg.Accounts.SharesDir, key, blob)
			if err != nil {
				d.Zero()
				return nil, fmt.Errorf("signer %d: %w", s.cfg.Node.ID, err)
			}
			commits, discards = append(commits, commit), append(discards, discard)
		}
		d.Zero()
		keys = append(keys, key)
	}

	// Register every key with every signer before any share appears.
	for _, s := range signers {
		if err := RegisterKeys(ctx, s.cfg, keys); err != nil {
			return nil, fmt.Errorf("signer %d: %w", s.cfg.Node.ID, err)
		}
	}
	for _, c := range commits {
		if err := c(); err != nil {
			return nil, err
		}
	}
	succeeded = true
	return keys, nil
}

// RegisterKeys adds fresh keys to a signer's slashing protection database,
// creating it for the signer's network when it does not exist.
func RegisterKeys(ctx context.Context, cfg *appliance.Config, keys []api.PublicKey) error {
	n, err := cfg.LoadNetwork(ctx)
	if err != nil {
		return err
	}
	pcfg := protect.DefaultConfig()
	pcfg.SlotsPerEpoch = n.Preset().SlotsPerEpoch
	pcfg.HistoryEpochs = cfg.Slashing.HistoryEpochs
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	db, err := protect.Open(ctx, cfg.Slashing.Database, pcfg)
	if errors.Is(err, fs.ErrNotExist) {
		db, err = protect.Create(ctx, cfg.Slashing.Database, protect.Root(n.GenesisValidatorsRoot()), pcfg)
	}
	if err != nil {
		return fmt.Errorf("slashing.database: %w", err)
	}
	defer db.Close()
	if db.GenesisValidatorsRoot() != protect.Root(n.GenesisValidatorsRoot()) {
		return errors.New("slashing.database belongs to another network")
	}
	pks := make([]protect.PublicKey, len(keys))
	for i, k := range keys {
		pks[i] = protect.PublicKey(k)
	}
	return db.Register(ctx, pks...)
}
