package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/audit"
	"github.com/rampart-signer/rampart/internal/api"
)

// openAudit opens the audit log: its head anchored in the slashing
// protection database (opened before it), its checkpoints tagged by the
// sealing key, a version 1 <data_dir>/audit.log moved in. Start-up refuses
// a log that was cut, emptied, rewritten or broken, leaving it as found.
func (a *Appliance) openAudit(ctx context.Context) error {
	cfg := a.cfg.Audit
	retain := cfg.RetainMiB << 20
	if retain == 0 {
		ds, err := a.opts.StatFS(existing(cfg.Dir))
		if err != nil {
			return fmt.Errorf("audit.retain_mib 0 sizes retention from the filesystem: %w", err)
		}
		retain = int64(defaultRetainShare * float64(ds.Total))
	}
	opts := audit.Options{
		Now:                a.now,
		Logger:             a.log.With("component", "audit"),
		RotateBytes:        cfg.RotateMiB << 20,
		RotateAge:          cfg.RotateAge,
		RetainBytes:        retain,
		RetainAge:          cfg.RetainAge,
		Tagger:             a.sealKey,
		CheckpointRecords:  cfg.CheckpointRecords,
		CheckpointInterval: cfg.CheckpointInterval,
		Compress:           cfg.Compress,
		Anchors:            a.db,
		LegacyFile:         filepath.Join(a.cfg.DataDir, "audit.log"),
		ObserveSync:        func(d time.Duration, _ int) { a.metrics.auditFsync.Observe(d.Seconds()) },
	}
	a.status("checking the audit log")
	start := a.now()
	lg, rec, err := audit.Open(ctx, cfg.Dir, opts)
	if err != nil {
		a.health.set("audit", err)
		var ae *audit.Error
		if errors.As(err, &ae) {
			return fmt.Errorf("audit log %s: %w (it was left as found: keep it as evidence, see rampartctl audit verify; docs/operations.md says how to start again)", cfg.Dir, err)
		}
		return fmt.Errorf("audit log %s: %w", cfg.Dir, err)
	}
	a.audit = lg
	a.log.Info("audit log checked", "dir", cfg.Dir, "records", rec.Records, "files", rec.Files,
		"verified_from", rec.VerifiedFrom, "checkpoint", rec.Checkpoint, "retain_bytes", retain, "took", a.now().Sub(start).String())
	if rec.TornBytes > 0 {
		a.log.Warn("audit log: cut an incomplete last record left by a crash", "bytes", rec.TornBytes)
	}
	if rec.Legacy != "" {
		a.log.Warn("audit log: moved the version 1 log into the audit directory without checking it; run rampartctl audit verify", "from", rec.Legacy)
	}
	if rec.Reset != nil {
		a.log.Warn("audit log: the operator acknowledged lost records; noted in the log", "lost_up_to", rec.Reset.Seq)
	}
	if err := a.reg.Register(newAuditCollector(lg)); err != nil {
		return fmt.Errorf("audit metrics: %w", err)
	}
	a.health.set("audit", nil)
	// The disk check is seen before the signer says it is ready.
	a.checkStorage()
	return nil
}

func (a *Appliance) runAudit(ctx context.Context) {
	if err := a.audit.Run(ctx); err != nil && ctx.Err() == nil {
		a.log.Error("audit log background work stopped", "err", err)
	}
}

// auditAnchor serves the log's durable head, for rampartctl audit verify
// while the signer runs (the slashing database is locked then), with the
// anchor as last written to the database.
func (a *Appliance) auditAnchor(w http.ResponseWriter, _ *http.Request) {
	select {
	case <-a.ready:
		// a.audit and a.db are set for good once ready is closed.
	default:
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	out := struct {
		Durable  audit.Anchor  `json:"durable"`
		Anchored *audit.Anchor `json:"anchored,omitempty"`
	}{Durable: a.audit.Durable()}
	if v, ok := a.db.Anchor(audit.AnchorName); ok {
		if an, err := audit.ParseAnchor(string(v)); err == nil {
			out.Anchored = &an
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// auditCollector turns the log's counters into metrics at scrape time.
type auditCollector struct {
	l     *audit.Log
	descs []*prometheus.Desc
}

func newAuditCollector(l *audit.Log) auditCollector {
	c := auditCollector{l: l}
	for _, m := range auditMetrics {
		c.descs = append(c.descs, prometheus.NewDesc("rampart_signer_audit_"+m.name, m.help, nil, nil))
	}
	return c
}

type auditMetric struct {
	name, help string
	kind       prometheus.ValueType
	value      func(audit.Stats) float64
}

var auditMetrics = []auditMetric{
	{"records_total", "Records appended (each key of a batch line counts one).", prometheus.CounterValue, func(s audit.Stats) float64 { return float64(s.Records) }},
	{"lines_total", "Lines appended (a batch is one line).", prometheus.CounterValue, func(s audit.Stats) float64 { return float64(s.Lines) }},
	{"bytes_total", "Bytes appended.", prometheus.CounterValue, func(s audit.Stats) float64 { return float64(s.Bytes) }},
	{"fsyncs_total", "Fsyncs of the log; concurrent appends share them.", prometheus.CounterValue, func(s audit.Stats) float64 { return float64(s.Syncs) }},
	{"write_errors_total", "Appends refused because a write failed (their signatures were withheld).", prometheus.CounterValue, func(s audit.Stats) float64 { return float64(s.WriteErrors) }},
	{"rotations_total", "New files started.", prometheus.CounterValue, func(s audit.Stats) float64 { return float64(s.Rotations) }},
	{"rotation_failures_total", "Rotations that failed (writing went on in the current file).", prometheus.CounterValue, func(s audit.Stats) float64 { return float64(s.RotationFailures) }},
	{"checkpoints_total", "HSM checkpoints written.", prometheus.CounterValue, func(s audit.Stats) float64 { return float64(s.Checkpoints) }},
	{"checkpoint_failures_total", "HSM checkpoints that failed.", prometheus.CounterValue, func(s audit.Stats) float64 { return float64(s.CheckpointFailures) }},
	{"last_checkpoint_timestamp_seconds", "Unix time of the last checkpoint (0: none since start).", prometheus.GaugeValue, func(s audit.Stats) float64 {
		if s.LastCheckpoint.IsZero() {
			return 0
		}
		return float64(s.LastCheckpoint.UnixNano()) / 1e9
	}},
	{"compressed_files_total", "Rotated files compressed.", prometheus.CounterValue, func(s audit.Stats) float64 { return float64(s.Compressed) }},
	{"retention_deleted_files_total", "Rotated files deleted by retention.", prometheus.CounterValue, func(s audit.Stats) float64 { return float64(s.DeletedFiles) }},
	{"retention_deleted_bytes_total", "Bytes deleted by retention.", prometheus.CounterValue, func(s audit.Stats) float64 { return float64(s.DeletedBytes) }},
	{"files", "Files in the log directory.", prometheus.GaugeValue, func(s audit.Stats) float64 { return float64(s.RetainedFiles) }},
	{"size_bytes", "Bytes in the log directory (bounded by audit.retain_mib).", prometheus.GaugeValue, func(s audit.Stats) float64 { return float64(s.RetainedBytes) }},
	{"head_sequence", "Sequence number of the last line.", prometheus.GaugeValue, func(s audit.Stats) float64 { return float64(s.Head) }},
	{"anchored_sequence", "Sequence number handed to the slashing database as the anchor.", prometheus.GaugeValue, func(s audit.Stats) float64 { return float64(s.Anchored) }},
}

func (c auditCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c auditCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.l.Stats()
	for i, m := range auditMetrics {
		ch <- prometheus.MustNewConstMetric(c.descs[i], m.kind, m.value(s))
	}
}

// recordAdmin logs an administrative action and appends it to the audit
// log before it is carried out; when the audit log cannot take it, the
// action is refused.
func (a *Appliance) recordAdmin(x adminapi.Actor, action string, keys ...api.PublicKey) *apiError {
	a.log.Info("administrative action", "action", action, "client", x.Client, "on_behalf_of", x.OnBehalfOf, "accounts", len(keys))
	if a.audit == nil {
		return nil // not started: nothing can have been done yet
	}
	now := a.now().UTC()
	recs := make([]audit.Record, 0, max(len(keys), 1))
	for _, k := range keys {
		recs = append(recs, audit.Record{Time: now, Kind: audit.KindAdmin, Type: action, PublicKey: k.String(), Client: x.Client, OnBehalfOf: x.OnBehalfOf})
	}
	if len(recs) == 0 {
		recs = append(recs, audit.Record{Time: now, Kind: audit.KindAdmin, Type: action, Client: x.Client, OnBehalfOf: x.OnBehalfOf})
	}
	if err := a.audit.Append(recs...); err != nil {
		a.log.Error("audit log write failed; administrative action refused", "action", action, "err", err)
		return refuse(http.StatusServiceUnavailable, "unavailable", "audit log unavailable")
	}
	return nil
}
