package appliance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/files"
	"github.com/rampart-signer/rampart/internal/api"
)

// A removed account's sealed share is not destroyed at once: removal stops
// the account signing (slashing protection disables it, the share is
// zeroed in memory, the coordinator refuses it), and the sealed share moves
// into a pending-destruction record in the shares directory, destroyed
// accounts.destroy_after later. Until then an administrator can restore
// it, so that a removal made by mistake, or on the word of a stolen
// credential, can be undone. Records are never loaded as accounts and
// never count as staged.
//
// A record is one file, <key>.<removal time in Unix ns>.removed, written
// durably (temporary name, fsync, rename, fsync of the directory) before
// the share file is deleted. It holds the sealed share (which is no secret
// at rest: only this signer's HSM unseals it) and who removed it.

// maxPending bounds the pending-destruction records of one signer; a
// removal beyond it is refused (the account keeps signing) until some are
// destroyed or restored.
const maxPending = 200_000

// pendingRecord is a record file's content.
type pendingRecord struct {
	Version int `json:"version"`
	adminapi.PendingDestruction
	// Share is the sealed share, as it was in its share file.
	Share []byte `json:"share"`
}

const pendingVersion = 1

// pendingStore is the shares directory's pending-destruction records. The
// caller serialises changes (Appliance.life); the store's own lock only
// keeps readers (metrics, health) consistent.
type pendingStore struct {
	dir string

	mu     sync.Mutex
	byName map[string]adminapi.PendingDestruction
	// wake tells the destroyer that a record was added.
	wake chan struct{}
}

func newPendingStore(dir string) *pendingStore {
	return &pendingStore{dir: dir, byName: map[string]adminapi.PendingDestruction{}, wake: make(chan struct{}, 1)}
}

func pendingName(key api.PublicKey, removed time.Time) string {
	return key.String() + "." + strconv.FormatInt(removed.UnixNano(), 10) + files.PendingExt
}

// load reads every record of the directory and deletes temporary files a
// crash left. A record that does not parse is left alone and reported.
func (s *pendingStore) load() (bad []string, err error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, files.PendingExt+".tmp"):
			os.Remove(filepath.Join(s.dir, name))
		case strings.HasSuffix(name, files.PendingExt) && !e.IsDir():
			rec, err := s.read(name)
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s: %v", name, err))
				continue
			}
			s.byName[name] = rec.PendingDestruction
		}
	}
	return bad, nil
}

// read reads one record file.
func (s *pendingStore) read(name string) (*pendingRecord, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, name))
	if err != nil {
		return nil, err
	}
	var rec pendingRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("malformed record: %w", err)
	}
	if rec.Version != pendingVersion || len(rec.Share) == 0 || name != pendingName(rec.PublicKey, rec.RemovedAt) {
		return nil, errors.New("not a pending-destruction record of this version")
	}
	rec.ID = strings.TrimSuffix(name, files.PendingExt)
	return &rec, nil
}

// add records a removed share durably.
func (s *pendingStore) add(key api.PublicKey, share []byte, x adminapi.Actor, now time.Time, after time.Duration) (adminapi.PendingDestruction, error) {
	s.mu.Lock()
	n := len(s.byName)
	s.mu.Unlock()
	if n >= maxPending {
		return adminapi.PendingDestruction{}, fmt.Errorf("%d removed shares are already awaiting destruction here; restore or wait for some", n)
	}
	now = now.UTC().Round(0)
	name := pendingName(key, now)
	for {
		// Two removals of one key at the same instant (a coarse clock)
		// get two records.
		s.mu.Lock()
		_, taken := s.byName[name]
		s.mu.Unlock()
		if _, err := os.Lstat(filepath.Join(s.dir, name)); !taken && errors.Is(err, os.ErrNotExist) {
			break
		}
		now = now.Add(time.Nanosecond)
		name = pendingName(key, now)
	}
	pd := adminapi.PendingDestruction{
		ID: strings.TrimSuffix(name, files.PendingExt), PublicKey: key, RemovedAt: now, Due: now.Add(after),
		Client: x.Client, OnBehalfOf: x.OnBehalfOf,
	}
	b, err := json.Marshal(pendingRecord{Version: pendingVersion, PendingDestruction: pd, Share: share})
	if err != nil {
		return adminapi.PendingDestruction{}, err
	}
	if err := files.WriteDurable(filepath.Join(s.dir, name), b, 0o600); err != nil {
		return adminapi.PendingDestruction{}, fmt.Errorf("recording the removed share: %w", err)
	}
	s.mu.Lock()
	s.byName[name] = pd
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return pd, nil
}

// drop deletes a record (destroyed or restored).
func (s *pendingStore) drop(name string) error {
	if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := files.SyncDir(s.dir); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.byName, name)
	s.mu.Unlock()
	return nil
}

// list returns the records, earliest due first.
func (s *pendingStore) list() []adminapi.PendingDestruction {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]adminapi.PendingDestruction, 0, len(s.byName))
	for _, pd := range s.byName {
		out = append(out, pd)
	}
	slices.SortFunc(out, func(a, b adminapi.PendingDestruction) int {
		if c := a.Due.Compare(b.Due); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

func (s *pendingStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byName)
}

// next returns the earliest due time.
func (s *pendingStore) next() (time.Time, bool) {
	l := s.list()
	if len(l) == 0 {
		return time.Time{}, false
	}
	return l[0].Due, true
}

// due returns the records due at now.
func (s *pendingStore) due(now time.Time) []adminapi.PendingDestruction {
	var out []adminapi.PendingDestruction
	for _, pd := range s.list() {
		if !pd.Due.After(now) {
			out = append(out, pd)
		}
	}
	return out
}

// of returns the records of key, newest first.
func (s *pendingStore) of(key api.PublicKey) []adminapi.PendingDestruction {
	var out []adminapi.PendingDestruction
	for _, pd := range s.list() {
		if pd.PublicKey == key {
			out = append(out, pd)
		}
	}
	slices.SortFunc(out, func(a, b adminapi.PendingDestruction) int { return b.RemovedAt.Compare(a.RemovedAt) })
	return out
}

// holding returns the record of key whose share is exactly share.
func (s *pendingStore) holding(key api.PublicKey, share []byte) (string, bool) {
	for _, pd := range s.of(key) {
		rec, err := s.read(pd.ID + files.PendingExt)
		if err == nil && bytes.Equal(rec.Share, share) {
			return pd.ID + files.PendingExt, true
		}
	}
	return "", false
}
