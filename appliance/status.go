package appliance

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"sort"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/web"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/buildinfo"
	"github.com/rampart-signer/rampart/protect"
)

// statusRoute adds GET adminapi.PathStatus to the participant mux: an
// administrative read (both administrative proofs, not relayed), for
// rampartctl status.
func (a *Appliance) statusRoute(mux *http.ServeMux) {
	mux.HandleFunc("GET "+adminapi.PathStatus, a.adminGuard(false, func(w http.ResponseWriter, _ *http.Request, _ adminapi.Actor) {
		web.WriteJSON(w, http.StatusOK, a.statusReport())
	}))
}

// configHashes are the SHA-256 of the whole configuration and of the
// parts every signer must share.
func (c *Config) configHashes() (whole, cluster string) {
	h := func(v any) string {
		b, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:])
	}
	shared := struct {
		Network      NetworkConfig       `yaml:"network"`
		ID           string              `yaml:"id"`
		Participants []ParticipantConfig `yaml:"participants"`
	}{c.Network, c.Cluster.ID, c.Cluster.Participants}
	return h(c), h(shared)
}

// statusReport is this signer's state for adminapi.PathStatus.
func (a *Appliance) statusReport() *adminapi.Status {
	r, ok := a.health.report()
	s := &adminapi.Status{
		ParticipantID: api.Uint64(a.cfg.Node.ID), Version: buildinfo.Version(), Time: a.now().UTC(),
		Ready: ok, Checks: map[string]adminapi.CheckStatus{},
	}
	s.ConfigHash, s.ClusterHash = a.cfg.configHashes()
	for name, c := range r.Checks {
		s.Checks[name] = adminapi.CheckStatus{Status: c.Status, Error: c.Error}
	}
	if q := a.quorum.get(); q != nil {
		t, _ := time.Parse(time.RFC3339, q.Checked)
		s.Quorum = &adminapi.QuorumStatus{Ready: q.Ready, Threshold: q.Threshold, Checked: t}
	}
	if a.accounts != nil {
		for _, k := range a.accounts.keys() {
			if a.db != nil && a.db.Disabled(protect.PublicKey(k)) {
				s.Accounts.Disabled++
			} else {
				s.Accounts.Active++
			}
		}
	}
	a.life.Lock()
	s.Accounts.Staged = len(a.staged)
	a.life.Unlock()
	s.Accounts.PendingDestruction = a.pending.len()
	if hs := a.hsmCur.Load(); hs != nil && hs.cert.Leaf != nil {
		s.Certificate = adminapi.CertificateStatus{Subject: hs.cert.Leaf.Subject.String(), NotAfter: hs.cert.Leaf.NotAfter}
	}
	if cas := a.caCerts.Load(); cas != nil {
		for _, c := range *cas {
			s.CA = append(s.CA, adminapi.CertificateStatus{Subject: c.Subject.String(), NotAfter: c.NotAfter})
		}
	}
	for name, dir := range a.volumes() {
		if ds, err := a.opts.StatFS(existing(dir)); err == nil {
			s.Disk = append(s.Disk, adminapi.DiskStatus{Volume: name, Path: dir, FreeBytes: ds.Avail, SizeBytes: ds.Total})
		}
	}
	sort.Slice(s.Disk, func(i, j int) bool { return s.Disk[i].Volume < s.Disk[j].Volume })
	s.SlashingDB = adminapi.SlashingDBStatus{Path: a.cfg.Slashing.Database, SchemaVersion: protect.SchemaVersion}
	if st, err := os.Stat(a.cfg.Slashing.Database); err == nil {
		s.SlashingDB.SizeBytes = st.Size()
	}
	if a.db != nil {
		s.SlashingDB.Keys = a.db.Stats().Keys
	}
	if a.audit != nil {
		d := a.audit.Durable()
		st := a.audit.Stats()
		s.Audit = adminapi.AuditStatus{HeadSequence: d.Seq, Head: d.Head, AnchoredSequence: st.Anchored}
	}
	return s
}
