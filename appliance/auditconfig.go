package appliance

import (
	"path/filepath"
	"time"
)

// AuditConfig tunes the audit log (package audit): where its files are,
// when a new file starts, and how much of the past stays on this host.
type AuditConfig struct {
	// Dir holds the log's files; default <data_dir>/audit.
	Dir string `yaml:"dir"`
	// RotateMiB starts a new file once the current one holds this many MiB.
	RotateMiB int64 `yaml:"rotate_mib"`
	// RotateAge starts a new file once the current one's first record is
	// this old. Rotated files are complete and read-only: ship them.
	RotateAge time.Duration `yaml:"rotate_age"`
	// RetainMiB deletes the oldest rotated files while all files hold more;
	// 0 means 40% of the size of the filesystem holding Dir.
	RetainMiB int64 `yaml:"retain_mib"`
	// RetainAge deletes rotated files whose last record is older; 0 keeps
	// them until RetainMiB.
	RetainAge time.Duration `yaml:"retain_age"`
	// CheckpointRecords and CheckpointInterval: an HSM checkpoint (a tag by
	// the sealing key over the chain's head) after this many lines or this
	// long, whichever comes first, and after each rotation.
	CheckpointRecords  uint64        `yaml:"checkpoint_records"`
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// Compress compresses rotated files with zstd (about 11 to 19 times
	// smaller: validators' keys repeat every epoch).
	Compress bool `yaml:"compress"`
}

// StorageConfig sets the disk headroom checks of the filesystems holding
// the audit log and the slashing protection database.
type StorageConfig struct {
	// DegradedFreePercent and DegradedFreeMiB: below both (a small share of
	// the filesystem that is also little in absolute terms), health reports
	// the disk check DEGRADED (readiness stays true): act before it fills.
	DegradedFreePercent float64 `yaml:"degraded_free_percent"`
	DegradedFreeMiB     int64   `yaml:"degraded_free_mib"`
	// FailingFreeMiB: below it the next writes may fail; health reports the
	// disk check DOWN and readiness false, so that clients go to the other
	// signers. Signing goes on while writes succeed.
	FailingFreeMiB int64 `yaml:"failing_free_mib"`
	// CheckInterval is how often free space is measured.
	CheckInterval time.Duration `yaml:"check_interval"`
}

// defaultRetainShare is the share of the filesystem the log may keep when
// audit.retain_mib is 0.
const defaultRetainShare = 0.40

func auditDefaults() AuditConfig {
	return AuditConfig{
		RotateMiB:          16,
		RotateAge:          time.Hour,
		CheckpointRecords:  10_000,
		CheckpointInterval: time.Minute,
		Compress:           true,
	}
}

func storageDefaults() StorageConfig {
	return StorageConfig{
		DegradedFreePercent: 20,
		DegradedFreeMiB:     1024,
		FailingFreeMiB:      16,
		CheckInterval:       10 * time.Second,
	}
}

func (c *Config) fillAuditDerived() {
	if c.Audit.Dir == "" && c.DataDir != "" {
		c.Audit.Dir = filepath.Join(c.DataDir, "audit")
	}
}

func (c *Config) validateAudit() error {
	a, s := c.Audit, c.Storage
	switch {
	case a.Dir == "":
		return fieldErr("audit.dir", "required")
	case !filepath.IsAbs(a.Dir):
		return fieldErr("audit.dir", "%q must be an absolute path", a.Dir)
	case a.RotateMiB <= 0:
		return fieldErr("audit.rotate_mib", "must be at least 1 (a file of at most this many MiB)")
	case a.RotateAge <= 0:
		return fieldErr("audit.rotate_age", "must be positive (for example 1h)")
	case a.RetainMiB < 0:
		return fieldErr("audit.retain_mib", "must not be negative (0: 40%% of the filesystem)")
	case a.RetainMiB > 0 && a.RetainMiB < 2*a.RotateMiB:
		return fieldErr("audit.retain_mib", "%d MiB holds less than two files of audit.rotate_mib %d MiB; raise it or lower rotate_mib", a.RetainMiB, a.RotateMiB)
	case a.RetainAge < 0:
		return fieldErr("audit.retain_age", "must not be negative (0: no age limit)")
	case a.RetainAge > 0 && a.RetainAge < a.RotateAge:
		return fieldErr("audit.retain_age", "%v is shorter than audit.rotate_age %v", a.RetainAge, a.RotateAge)
	case a.CheckpointRecords == 0:
		return fieldErr("audit.checkpoint_records", "must be at least 1")
	case a.CheckpointInterval < time.Second:
		return fieldErr("audit.checkpoint_interval", "must be at least 1s")
	case s.DegradedFreePercent < 0 || s.DegradedFreePercent >= 100:
		return fieldErr("storage.degraded_free_percent", "must be between 0 and 100")
	case s.FailingFreeMiB < 0:
		return fieldErr("storage.failing_free_mib", "must not be negative")
	case s.DegradedFreeMiB < s.FailingFreeMiB:
		return fieldErr("storage.degraded_free_mib", "%d is below storage.failing_free_mib %d: degraded must come first", s.DegradedFreeMiB, s.FailingFreeMiB)
	case s.CheckInterval < time.Second:
		return fieldErr("storage.check_interval", "must be at least 1s")
	}
	return nil
}
