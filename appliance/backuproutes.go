package appliance

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/audit"
	"github.com/rampart-signer/rampart/appliance/backup"
	"github.com/rampart-signer/rampart/appliance/internal/files"
	"github.com/rampart-signer/rampart/appliance/internal/web"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/protect"
)

// backupRoutes adds the online backup and the slashing protection history
// endpoints (adminapi.PathBackup, PathSlashingExport, PathSlashingMerge)
// to the participant mux, for administrators only (both proofs; no peer
// relays them). A backup and a merge are audited before they are done; an
// export is a read, logged by the guard when refused.
func (a *Appliance) backupRoutes(mux *http.ServeMux) {
	route := func(pattern string, h adminHandler) { mux.HandleFunc(pattern, a.adminGuard(false, h)) }
	route("GET "+adminapi.PathBackup, a.serveBackup)
	route("GET "+adminapi.PathSlashingExport, func(w http.ResponseWriter, r *http.Request, _ adminapi.Actor) {
		var keys []protect.PublicKey
		for i, s := range r.URL.Query()["key"] {
			k, err := protect.ParsePublicKey(s)
			if err != nil {
				web.WriteError(w, refuse(http.StatusBadRequest, "bad_request", "key[%d] %q: %v", i, s, err))
				return
			}
			keys = append(keys, k)
		}
		ic, err := a.db.Export(r.Context(), keys...)
		if errors.Is(err, protect.ErrUnknownKey) {
			web.WriteError(w, refuse(http.StatusNotFound, "unknown_account", "%v", err))
			return
		}
		if err != nil {
			web.WriteError(w, refuse(http.StatusServiceUnavailable, "unavailable", "slashing protection: %v", err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = ic.WriteTo(w)
	})
	route("POST "+adminapi.PathSlashingMerge, a.serveMerge)
}

// serveMerge merges history into the database while the signer runs: the
// keys this signer holds (a share or a history here) are taken, others
// skipped; records are added and watermarks raised (protect
// RaiseWatermarks), never lowered; on request every key's watermarks rise
// to the signer's horizon (its clock's epoch plus slashing.future_epochs).
func (a *Appliance) serveMerge(w http.ResponseWriter, r *http.Request, x adminapi.Actor) {
	var req adminapi.MergeRequest
	if e := web.DecodeStrict(w, r, &req); e != nil {
		web.WriteError(w, e)
		return
	}
	var ic *protect.Interchange
	if len(req.SlashingProtection) > 0 && string(req.SlashingProtection) != "null" {
		var err error
		if ic, err = protect.ParseInterchange(req.SlashingProtection); err != nil {
			web.WriteError(w, refuse(http.StatusBadRequest, "bad_request", "slashing_protection: %v", err))
			return
		}
	}
	if ic == nil && !req.RaiseToCurrentEpoch {
		web.WriteError(w, refuse(http.StatusBadRequest, "bad_request", "neither slashing_protection nor raise_to_current_epoch: nothing to merge"))
		return
	}
	if e := a.recordAdmin(x, "merge_slashing_protection"); e != nil {
		web.WriteError(w, e)
		return
	}
	ctx := r.Context()
	var resp adminapi.MergeResponse
	if ic != nil {
		mine := map[protect.PublicKey]bool{}
		for _, k := range a.db.Keys() {
			mine[k] = true
		}
		for _, k := range a.accounts.keys() {
			mine[protect.PublicKey(k)] = true
		}
		kept := &protect.Interchange{GenesisValidatorsRoot: ic.GenesisValidatorsRoot}
		for _, v := range ic.Data {
			if mine[v.PublicKey] {
				kept.Data = append(kept.Data, v)
			}
		}
		if len(kept.Data) > 0 {
			res, err := a.db.Import(ctx, kept, protect.RaiseWatermarks())
			if err != nil {
				code := http.StatusBadRequest
				if !errors.Is(err, protect.ErrWrongNetwork) && !errors.Is(err, protect.ErrFuture) {
					code = http.StatusServiceUnavailable
				}
				web.WriteError(w, refuse(code, "merge", "slashing_protection: %v", err))
				return
			}
			resp.Validators = len(res)
		}
	}
	if req.RaiseToCurrentEpoch {
		lim := a.futureLimit()
		if keys := a.db.Keys(); len(keys) > 0 {
			floors := backup.Floors(protect.Root(a.net.GenesisValidatorsRoot()), keys, lim.Epoch, a.net.Preset().SlotsPerEpoch)
			if _, err := a.db.Import(ctx, floors, protect.RaiseWatermarks()); err != nil {
				web.WriteError(w, refuse(http.StatusServiceUnavailable, "merge", "raising the watermarks to epoch %d: %v", lim.Epoch, err))
				return
			}
		}
		e := api.Uint64(lim.Epoch)
		resp.RaisedTo = &e
	}
	a.log.Info("slashing protection merged", "client", x.Client, "validators", resp.Validators, "raised_to", resp.RaisedTo)
	web.WriteJSON(w, http.StatusOK, resp)
}

// serveBackup writes the backup archive: the database is copied to a
// temporary file beside it first (one read transaction, as fast as the
// local disk), so that the transfer to the administrator, however slow,
// holds no transaction open. One backup at a time.
func (a *Appliance) serveBackup(w http.ResponseWriter, r *http.Request, x adminapi.Actor) {
	if !a.backupMu.TryLock() {
		web.WriteError(w, refuse(http.StatusConflict, "busy", "a backup of this signer is already being taken; retry when it is done"))
		return
	}
	defer a.backupMu.Unlock()
	if e := a.recordAdmin(x, "backup"); e != nil {
		web.WriteError(w, e)
		return
	}
	start := a.now()
	ctx := r.Context()
	cfg := a.cfg
	snap, err := os.CreateTemp(filepath.Dir(cfg.Slashing.Database), ".backup-*.db")
	if err != nil {
		web.WriteError(w, refuse(http.StatusInternalServerError, "backup", "temporary copy of the database: %v", err))
		return
	}
	defer os.Remove(snap.Name())
	_, err = a.db.WriteSnapshot(ctx, snap)
	if cerr := snap.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		web.WriteError(w, refuse(http.StatusInternalServerError, "backup", "copying the database: %v", err))
		return
	}
	ic, err := a.db.Export(ctx)
	var history []byte
	if err == nil {
		history, err = ic.Marshal()
	}
	if err != nil {
		web.WriteError(w, refuse(http.StatusInternalServerError, "backup", "exporting the history: %v", err))
		return
	}
	parts := []backup.Part{{Name: backup.DatabaseName, Path: snap.Name()}, {Name: backup.InterchangeNm, Data: history}}
	if a.opts.ConfigFile != "" {
		conf, err := os.ReadFile(a.opts.ConfigFile)
		if err != nil {
			web.WriteError(w, refuse(http.StatusInternalServerError, "backup", "reading the configuration: %v", err))
			return
		}
		parts = append(parts, backup.Part{Name: backup.ConfigName, Data: conf})
	}
	durable := a.audit.Durable()
	head, _ := json.Marshal(struct {
		Durable  any `json:"durable"`
		Anchored any `json:"anchored,omitempty"`
	}{durable, json.RawMessage(anchorOr(a.db))})
	parts = append(parts, backup.Part{Name: backup.AuditHeadName, Data: head})
	shares, err := os.ReadDir(cfg.Accounts.SharesDir)
	if err != nil {
		web.WriteError(w, refuse(http.StatusInternalServerError, "backup", "listing accounts.shares_dir: %v", err))
		return
	}
	n := 0
	for _, de := range shares {
		if de.Type().IsRegular() && strings.HasSuffix(de.Name(), files.ShareExt) {
			parts = append(parts, backup.Part{Name: backup.SharesDir + "/" + de.Name(), Path: filepath.Join(cfg.Accounts.SharesDir, de.Name())})
			n++
		}
	}
	m := &backup.Manifest{
		Cluster: cfg.Cluster.ID, Node: cfg.Node.ID,
		GenesisValidatorsRoot: protect.Root(a.net.GenesisValidatorsRoot()).String(),
		Created:               start.UTC(), Validators: len(ic.Data), Shares: n,
		Audit: backup.AuditHead{Seq: durable.Seq, Head: durable.Head},
	}
	if err := backup.Prepare(m, parts); err != nil {
		web.WriteError(w, refuse(http.StatusInternalServerError, "backup", "%v", err))
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", fmt.Sprintf("rampart-%s-node%d-%s.tar", cfg.Cluster.ID, cfg.Node.ID, start.UTC().Format("20060102T150405Z"))))
	if err := backup.Write(w, m, parts); err != nil {
		// Part of the archive may be sent: cut the connection, so the
		// client sees a broken transfer, never a short archive that ends
		// cleanly (its manifest would show what is missing anyway).
		a.log.Error("backup failed", "client", x.Client, "err", err)
		panic(http.ErrAbortHandler)
	}
	a.log.Info("backup taken", "client", x.Client, "validators", m.Validators, "shares", n, "took_ms", a.now().Sub(start).Milliseconds())
}

// anchorOr is the audit anchor as the database holds it, or null.
func anchorOr(db *protect.DB) []byte {
	if v, ok := db.Anchor(audit.AnchorName); ok && json.Valid(v) {
		return v
	}
	return []byte("null")
}

// RestoreTarget is the stopped signer of this configuration as
// backup.Restore reaches it, on network n: its database opened as the
// signer opens it (waiting lockTimeout for a running signer's lock), and
// the watermarks to be raised to the last epoch the signer may have
// signed for at now (the network's epoch plus slashing.future_epochs).
// The caller adds Merge and Own.
func (c *Config) RestoreTarget(n *network.Network, now time.Time, lockTimeout time.Duration) (backup.Target, error) {
	h, err := signing.HorizonAt(n, now, c.Slashing.FutureEpochs)
	if err != nil {
		return backup.Target{}, err
	}
	pc := protect.DefaultConfig()
	pc.LockTimeout = lockTimeout
	pc.HistoryEpochs = c.Slashing.HistoryEpochs
	pc.SlotsPerEpoch = n.Preset().SlotsPerEpoch
	pc.Limit = func() protect.Limit { return protect.Limit{Epoch: uint64(h.Last()), Why: h.String()} }
	return backup.Target{
		Cluster: c.Cluster.ID, Node: c.Node.ID, GenesisValidatorsRoot: protect.Root(n.GenesisValidatorsRoot()),
		Database: c.Slashing.Database, SharesDir: c.Accounts.SharesDir, AuditDir: c.Audit.Dir,
		Protect: pc, FloorEpoch: uint64(h.Last()),
	}, nil
}
