package appliance

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// DiskSpace is what a filesystem holds, as the signer (not root) sees it.
type DiskSpace struct {
	// Avail is the bytes the signer can still write (root's reserve
	// excluded); Total the filesystem's size.
	Avail, Total uint64
}

// statFS measures the filesystem holding path.
func statFS(path string) (DiskSpace, error) {
	var s unix.Statfs_t
	if err := unix.Statfs(path, &s); err != nil {
		return DiskSpace{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := uint64(s.Bsize)
	return DiskSpace{Avail: s.Bavail * bs, Total: s.Blocks * bs}, nil
}

// existing returns path, or its nearest ancestor that exists.
func existing(path string) string {
	for {
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			return path
		}
		up := filepath.Dir(path)
		if up == path {
			return path
		}
		path = up
	}
}

// volumes are the directories whose filesystems hold the signer's state.
func (a *Appliance) volumes() map[string]string {
	return map[string]string{
		"audit":       a.cfg.Audit.Dir,
		"slashing_db": filepath.Dir(a.cfg.Slashing.Database),
	}
}

// diskState is the verdict of one round of checks.
type diskState int

const (
	diskOK diskState = iota
	diskDegraded
	diskFailing
)

// checkStorage measures free space (metrics) and sets the "disk" health
// check: DEGRADED below the degraded thresholds, DOWN (not ready) below the
// failing one. It also reports the audit log's own state in "audit".
func (a *Appliance) checkStorage() diskState {
	s := a.cfg.Storage
	worst, msg := diskOK, ""
	for name, dir := range a.volumes() {
		ds, err := a.opts.StatFS(existing(dir))
		if err != nil {
			a.log.Warn("cannot measure free space", "volume", name, "err", err)
			worst, msg = max(worst, diskDegraded), fmt.Sprintf("%s: %v", name, err)
			continue
		}
		ratio := 0.0
		if ds.Total > 0 {
			ratio = float64(ds.Avail) / float64(ds.Total)
		}
		a.metrics.diskFree.WithLabelValues(name).Set(float64(ds.Avail))
		a.metrics.diskSize.WithLabelValues(name).Set(float64(ds.Total))
		a.metrics.diskRatio.WithLabelValues(name).Set(ratio)
		free := fmt.Sprintf("%s (%s): %d MiB free of %d MiB (%.1f%%)", name, dir, ds.Avail>>20, ds.Total>>20, 100*ratio)
		switch {
		case ds.Avail < uint64(s.FailingFreeMiB)<<20:
			if worst < diskFailing {
				worst, msg = diskFailing, free+fmt.Sprintf(", below storage.failing_free_mib %d: writes will fail soon", s.FailingFreeMiB)
			}
		case ds.Avail < uint64(s.DegradedFreeMiB)<<20 && 100*ratio < s.DegradedFreePercent:
			if worst < diskDegraded {
				worst, msg = diskDegraded, free+fmt.Sprintf(", below storage.degraded_free_percent %g and degraded_free_mib %d", s.DegradedFreePercent, s.DegradedFreeMiB)
			}
		}
	}
	switch worst {
	case diskFailing:
		a.health.set("disk", errors.New(msg))
	case diskDegraded:
		a.health.degrade("disk", msg)
	default:
		a.health.set("disk", nil)
	}
	a.checkAuditHealth()
	return worst
}

// checkAuditHealth reports a failed log (DOWN: it takes no records until a
// restart) and failing checkpoints or rotations (DEGRADED: it still takes
// records).
func (a *Appliance) checkAuditHealth() {
	if a.audit == nil {
		return
	}
	st := a.audit.Stats()
	switch {
	case st.Failed != nil:
		a.health.set("audit", st.Failed)
	case st.CheckpointError != nil:
		a.health.degrade("audit", st.CheckpointError.Error())
	case st.RotationError != nil:
		a.health.degrade("audit", "rotation failed; writing on in the current file: "+st.RotationError.Error())
	default:
		a.health.set("audit", nil)
	}
}

// runStorage checks storage every storage.check_interval until ctx ends.
func (a *Appliance) runStorage(ctx context.Context) {
	t := time.NewTicker(a.cfg.Storage.CheckInterval)
	defer t.Stop()
	last := diskOK
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.setDBHealth(ctx)
		if st := a.checkStorage(); st != last {
			switch st {
			case diskFailing:
				a.log.Error("disk almost full: not ready until space is freed", "check", a.health.message("disk"))
			case diskDegraded:
				a.log.Warn("disk space low", "check", a.health.message("disk"))
			default:
				a.log.Info("disk space back above the thresholds")
			}
			last = st
		}
	}
}

// setDBHealth runs checkDB and sets the slashing_db check, logging a change.
func (a *Appliance) setDBHealth(ctx context.Context) {
	err := a.checkDB(ctx)
	if ctx.Err() != nil {
		return
	}
	was := a.health.message("slashing_db")
	a.health.set("slashing_db", err)
	switch {
	case err != nil && was == "":
		a.log.Error("slashing protection database takes no writes: not ready", "err", err)
	case err == nil && was != "":
		a.log.Info("slashing protection database takes writes again")
	}
}
