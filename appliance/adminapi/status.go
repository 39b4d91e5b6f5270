package adminapi

import (
	"context"
	"net/http"
	"time"

	"github.com/rampart-signer/rampart/internal/api"
)

// PathStatus is a signer's status for the operator (rampartctl status): an
// administrative read, on the participant listener.
const PathStatus = "/rampart/v1/status"

// Status is one signer's state as it sees it.
type Status struct {
	ParticipantID api.Uint64 `json:"participant_id"`
	Version       string     `json:"version"`
	// ConfigHash is the SHA-256 of the signer's whole configuration as
	// loaded (defaults applied); ClusterHash that of the parts every
	// signer of the cluster must agree on (network, cluster.id,
	// cluster.participants): they differ from one signer to another only
	// when the cluster is misconfigured.
	ConfigHash  string    `json:"config_hash"`
	ClusterHash string    `json:"cluster_hash"`
	Time        time.Time `json:"time"`
	// Ready is whether the signer can sign now (its /healthcheck); Checks
	// each check's state ("UP", "DEGRADED", "DOWN", "STARTING") and,
	// when not UP, why.
	Ready    bool                   `json:"ready"`
	Checks   map[string]CheckStatus `json:"checks"`
	Quorum   *QuorumStatus          `json:"quorum,omitempty"`
	Accounts AccountCounts          `json:"accounts"`
	// Certificate is the signer's TLS certificate; CA the cluster CA's.
	Certificate CertificateStatus   `json:"certificate"`
	CA          []CertificateStatus `json:"ca"`
	Disk        []DiskStatus        `json:"disk"`
	SlashingDB  SlashingDBStatus    `json:"slashing_db"`
	Audit       AuditStatus         `json:"audit"`
}

// CheckStatus is one health check.
type CheckStatus struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// QuorumStatus is the signer's last view of the cluster.
type QuorumStatus struct {
	Ready     int       `json:"ready"`
	Threshold int       `json:"threshold"`
	Checked   time.Time `json:"checked"`
}

// AccountCounts are the signer's accounts by state.
type AccountCounts struct {
	// Active accounts sign (share unsealed, enabled).
	Active int `json:"active"`
	// Disabled accounts have a share but are disabled in slashing
	// protection (staged again, not yet enabled).
	Disabled int `json:"disabled"`
	// Staged are imported or generated shares awaiting activation.
	Staged int `json:"staged"`
	// PendingDestruction are removed shares awaiting destruction.
	PendingDestruction int `json:"pending_destruction"`
}

// CertificateStatus is a certificate's subject and validity.
type CertificateStatus struct {
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`
}

// DiskStatus is the headroom of a volume of the signer's state.
type DiskStatus struct {
	Volume    string `json:"volume"`
	Path      string `json:"path"`
	FreeBytes uint64 `json:"free_bytes"`
	SizeBytes uint64 `json:"size_bytes"`
}

// SlashingDBStatus is the slashing protection database.
type SlashingDBStatus struct {
	Path          string `json:"path"`
	SizeBytes     int64  `json:"size_bytes"`
	SchemaVersion int    `json:"schema_version"`
	Keys          int    `json:"keys"`
}

// AuditStatus is the audit log's durable head and the head anchored in
// the slashing database.
type AuditStatus struct {
	HeadSequence     uint64 `json:"head_sequence"`
	Head             string `json:"head"`
	AnchoredSequence uint64 `json:"anchored_sequence"`
}

// Status asks the signer for its status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	if err := c.do(ctx, http.MethodGet, PathStatus, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
