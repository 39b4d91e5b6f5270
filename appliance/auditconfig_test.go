package appliance_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance"
)

func TestAuditConfigDefaults(t *testing.T) {
	cfg, err := appliance.Parse([]byte(strings.Replace(mustRead(t, "signer.example.yaml"), "  dir: /var/lib/rampart-signer/audit\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	a, s := cfg.Audit, cfg.Storage
	if a.Dir != "/var/lib/rampart-signer/audit" || a.RotateMiB != 16 || a.RotateAge != time.Hour || a.RetainMiB != 0 || !a.Compress ||
		a.CheckpointRecords != 10_000 || a.CheckpointInterval != time.Minute {
		t.Fatalf("audit defaults %+v", a)
	}
	if s.DegradedFreePercent != 20 || s.DegradedFreeMiB != 1024 || s.FailingFreeMiB != 16 || s.CheckInterval != 10*time.Second {
		t.Fatalf("storage defaults %+v", s)
	}
}

func TestAuditConfigErrorsNameTheField(t *testing.T) {
	base := mustRead(t, "signer.example.yaml")
	for _, tc := range []struct {
		name, from, to, field string
	}{
		{"refuses a relative audit dir", "  dir: /var/lib/rampart-signer/audit", "  dir: audit", "audit.dir"},
		{"refuses files of no size", "rotate_mib: 16", "rotate_mib: 0", "audit.rotate_mib"},
		{"refuses rotation by age off", "rotate_age: 1h", "rotate_age: 0s", "audit.rotate_age"},
		{"refuses retention smaller than two files", "retain_mib: 0", "retain_mib: 20", "audit.retain_mib"},
		{"refuses a negative retention", "retain_mib: 0", "retain_mib: -1", "audit.retain_mib"},
		{"refuses retention by age shorter than rotation", "retain_age: 0s", "retain_age: 10m", "audit.retain_age"},
		{"refuses no checkpoints", "checkpoint_records: 10000", "checkpoint_records: 0", "audit.checkpoint_records"},
		{"refuses checkpoints too often", "checkpoint_interval: 1m", "checkpoint_interval: 10ms", "audit.checkpoint_interval"},
		{"refuses a percent out of range", "degraded_free_percent: 20", "degraded_free_percent: 120", "storage.degraded_free_percent"},
		{"refuses degraded below failing", "degraded_free_mib: 1024", "degraded_free_mib: 8", "storage.degraded_free_mib"},
		{"refuses checks too often", "check_interval: 10s", "check_interval: 1ms", "storage.check_interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Replace(base, tc.from, tc.to, 1)
			if in == base {
				t.Fatalf("test edit %q did not apply", tc.from)
			}
			_, err := appliance.Parse([]byte(in))
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v does not name %s", err, tc.field)
			}
		})
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
