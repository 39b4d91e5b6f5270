package adminapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/peer"
)

// Paths of a running signer's backup and slashing protection history.
const (
	// PathBackup answers GET with the signer's backup archive
	// (appliance/backup): a consistent copy of the slashing database, its
	// EIP-3076 export, the sealed shares, the configuration and the audit
	// head, with a manifest of SHA-256 checksums.
	PathBackup = "/rampart/v1/backup"
	// PathSlashingExport answers GET with the signer's slashing protection
	// history as an EIP-3076 interchange document, of every key or of
	// the keys given as repeated key= parameters.
	PathSlashingExport = "/rampart/v1/slashing/export"
	// PathSlashingMerge takes a POSTed MergeRequest: history merged into
	// the running signer's database (records added, watermarks raised,
	// never lowered).
	PathSlashingMerge = "/rampart/v1/slashing/merge"
)

// MaxBackup bounds a backup archive a client reads: the database and the
// export of 100,000 validators with a year's history fit many times over.
const MaxBackup = 64 << 30

// MaxExport bounds an EIP-3076 answer (about 2 KB per validator with a
// pruned history).
const MaxExport = 1 << 30

// MergeRequest is history to merge into a running signer's database.
type MergeRequest struct {
	// SlashingProtection is an EIP-3076 interchange document; its records
	// are added and its minima raise the watermarks (read file by file).
	SlashingProtection json.RawMessage `json:"slashing_protection,omitempty"`
	// RaiseToCurrentEpoch raises every key's watermarks to the network's
	// current epoch by the signer's clock plus its slashing.future_epochs,
	// as a restore does before signing resumes.
	RaiseToCurrentEpoch bool `json:"raise_to_current_epoch,omitempty"`
}

// MergeResponse says what a merge did.
type MergeResponse struct {
	// Validators counts the keys the document brought.
	Validators int `json:"validators"`
	// RaisedTo is the epoch the watermarks were raised to, when asked.
	RaisedTo *api.Uint64 `json:"raised_to,omitempty"`
}

// Backup writes the signer's backup archive to w as it arrives and
// returns its size; the ctx bounds the transfer.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	return c.c.Stream(ctx, peer.Request{Method: http.MethodGet, Path: PathBackup, Header: c.proof, MaxResponse: MaxBackup}, w)
}

// ExportSlashing returns the signer's slashing protection history of keys
// (every key when none) as an EIP-3076 document.
func (c *Client) ExportSlashing(ctx context.Context, keys []api.PublicKey) ([]byte, error) {
	q := url.Values{}
	for _, k := range keys {
		q.Add("key", k.String())
	}
	p := PathSlashingExport
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return c.c.Do(ctx, peer.Request{Method: http.MethodGet, Path: p, Header: c.proof, MaxResponse: MaxExport})
}

// MergeSlashing merges history into the running signer's database.
func (c *Client) MergeSlashing(ctx context.Context, req *MergeRequest) (*MergeResponse, error) {
	var resp MergeResponse
	if err := c.do(ctx, http.MethodPost, PathSlashingMerge, req, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}
