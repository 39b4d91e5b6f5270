package appliance_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/audit"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/protect"
)

// auditFiles lists a signer's audit log files, oldest first: the files of
// the audit directory, or the single audit.log of builds before rotation.
func auditFiles(cfg *appliance.Config) []string {
	m, _ := filepath.Glob(filepath.Join(cfg.DataDir, "audit", "audit-*.log"))
	z, _ := filepath.Glob(filepath.Join(cfg.DataDir, "audit", "audit-*.log.zst"))
	m = append(m, z...)
	slices.Sort(m)
	if len(m) == 0 {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "audit.log")); err == nil {
			m = []string{filepath.Join(cfg.DataDir, "audit.log")}
		}
	}
	return m
}

// auditReleases counts the release records (kinds partial and full) in a
// signer's uncompressed audit files: the records a signature leaves. The
// log's own bookkeeping (an HSM checkpoint, a file's first line, retention)
// is written in the background at any time and is not counted.
func auditReleases(cfg *appliance.Config) int {
	n := 0
	for _, f := range auditFiles(cfg) {
		if strings.HasSuffix(f, ".zst") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		n += bytes.Count(b, []byte(`"kind":"partial"`)) + bytes.Count(b, []byte(`"kind":"full"`))
	}
	return n
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// runSigner starts a signer and waits until it is ready; stop stops it.
func runSigner(t *testing.T, s *localcluster.Signer, opts appliance.Options) (stop func()) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	rs, err := s.Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Ready(2 * time.Minute); err != nil {
		rs.Stop()
		t.Fatalf("signer did not start: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			if err := rs.Stop(); err != nil {
				t.Errorf("signer stopped with %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// signAttestations signs n attestations (target epochs from..from+n-1) of
// the signer's first key on its loopback listener.
func signAttestations(t *testing.T, s *localcluster.Signer, from, n int) {
	t.Helper()
	keys, _ := os.ReadDir(s.Config.Accounts.SharesDir)
	key := strings.TrimSuffix(keys[0].Name(), appliance.ShareFileExt)
	for i := 0; i < n; i++ {
		req := attestationRequest(mustNetwork(t), uint64(from+i-1), uint64(from+i), 0x11)
		resp, err := http.Post("http://"+s.Config.Listen.CoordinatorInsecureLoopback+"/api/v1/eth2/sign/"+key, "application/json", strings.NewReader(string(req)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("sign: %d", resp.StatusCode)
		}
	}
}

// startErr starts the signer on its configured addresses and returns why
// it stopped, or nil if it became ready (and is then stopped).
func startErr(t *testing.T, s *localcluster.Signer) error {
	t.Helper()
	rs, err := s.Run(appliance.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if rs.Ready(2*time.Minute) == nil {
		rs.Stop()
		return nil
	}
	return rs.Stop()
}

// TestStartupRefusesACutAuditLog is the hole 108c238 had: records cut off
// the end of the audit log, or the file emptied, went unnoticed (the chain
// of what was left was intact). The slashing protection database now
// anchors the log's head, and start-up refuses a log that ends before it.
func TestStartupRefusesACutAuditLog(t *testing.T) {
	for _, tc := range []struct {
		name string
		cut  func(path string) error
	}{
		{"refuses to start when the last records were cut off", func(p string) error {
			raw, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			ls := strings.SplitAfter(strings.TrimSuffix(string(raw), "\n"), "\n")
			return os.WriteFile(p, []byte(strings.Join(ls[:len(ls)-2], "")), 0o600)
		}},
		{"refuses to start when the audit log was emptied", func(p string) error { return os.WriteFile(p, nil, 0o600) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lc := oneSigner(t, 1)
			s := lc.Signers[0]
			stop := runSigner(t, s, appliance.Options{Listeners: s.Listeners})
			signAttestations(t, s, 5, 3)
			stop()
			files := auditFiles(s.Config)
			p := files[len(files)-1]
			os.Chmod(p, 0o600)
			if err := tc.cut(p); err != nil {
				t.Fatal(err)
			}
			err := startErr(t, s)
			if err == nil {
				t.Fatal("the signer started on an audit log that was cut")
			}
			if !strings.Contains(err.Error(), "anchors record") {
				t.Fatalf("start-up error does not name the anchored record: %v", err)
			}
		})
	}
}

// TestAuditLogIsAnchoredAndCheckpointed signs through the signer, then
// checks its log offline as an auditor would: every record chained, the end
// at the anchor in the slashing database, checkpoints tagged by the
// signer's own sealing key (SoftHSM).
func TestAuditLogIsAnchoredAndCheckpointed(t *testing.T) {
	lc := oneSigner(t, 1)
	s := lc.Signers[0]
	stop := runSigner(t, s, appliance.Options{Listeners: s.Listeners})
	signAttestations(t, s, 5, 4)
	// While it runs, the operations listener serves the durable head.
	_, body := get(t, "http://"+s.Config.Listen.Operations+"/audit/anchor")
	var live struct{ Durable audit.Anchor }
	if err := json.Unmarshal([]byte(body), &live); err != nil || live.Durable.Seq == 0 {
		t.Fatalf("/audit/anchor: %s %v", body, err)
	}
	_, metrics := get(t, "http://"+s.Config.Listen.Operations+"/metrics")
	for _, m := range []string{"rampart_signer_audit_records_total", "rampart_signer_audit_fsync_seconds_count", `rampart_signer_disk_free_bytes{volume="audit"}`, `rampart_signer_disk_free_ratio{volume="slashing_db"}`} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	stop()

	v, ok, err := protect.ReadAnchor(context.Background(), s.Config.Slashing.Database, audit.AnchorName, protect.DefaultConfig())
	if err != nil || !ok {
		t.Fatalf("no anchor in the slashing database: %v", err)
	}
	anchor, err := audit.ParseAnchor(string(v))
	if err != nil {
		t.Fatal(err)
	}
	tok, u := openToken(t, s.Config.HSM.SealingKey)
	key, err := tok.SealingKey(context.Background(), u.ObjectRef())
	if err != nil {
		t.Fatal(err)
	}
	r, err := audit.VerifyDir(context.Background(), s.Config.Audit.Dir, audit.VerifyOptions{Tagger: key, Anchor: &anchor})
	if err != nil {
		t.Fatal(err)
	}
	// 4 partials and 4 full signatures, each durable; the stop's
	// checkpoint authenticates all of them and is the anchored head.
	if !r.AnchorChecked || r.Tagged == 0 || r.AuthenticatedTo+1 != r.LastSeq || anchor.Seq != r.LastSeq || anchor.Checkpoint != r.LastSeq {
		t.Fatalf("report %+v, anchor %+v", r, anchor)
	}
	partial, full := 0, 0
	for _, f := range auditFiles(s.Config) {
		raw, _ := os.ReadFile(f)
		partial += strings.Count(string(raw), `"kind":"partial"`)
		full += strings.Count(string(raw), `"kind":"full"`)
	}
	if partial != 4 || full != 4 {
		t.Fatalf("%d partial and %d full records, want 4 and 4", partial, full)
	}
}

// TestStartupMovesAVersion1Log: a signer upgraded from before rotation
// finds its audit.log, moves it into the audit directory and continues its
// chain; the whole verifies.
func TestStartupMovesAVersion1Log(t *testing.T) {
	lc := oneSigner(t, 1)
	s := lc.Signers[0]
	legacy := filepath.Join(s.Config.DataDir, "audit.log")
	prev := strings.Repeat("0", 64)
	var out strings.Builder
	for i := 1; i <= 3; i++ {
		line := fmt.Sprintf(`{"seq":%d,"time":"2026-11-26T12:00:00Z","kind":"partial","type":"ATTESTATION","public_key":"0xaa","signing_root":"0x01","client":"vc-1","prev":"%s","hash":""}`, i, prev)
		sum := sha256.Sum256([]byte(line))
		h := hex.EncodeToString(sum[:])
		out.WriteString(strings.Replace(line, `"hash":""`, `"hash":"`+h+`"`, 1) + "\n")
		prev = h
	}
	if err := os.WriteFile(legacy, []byte(out.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	stop := runSigner(t, s, appliance.Options{Listeners: s.Listeners})
	signAttestations(t, s, 5, 1)
	stop()
	if _, err := os.Stat(legacy); !os.IsNotExist(err) {
		t.Fatalf("audit.log still there: %v", err)
	}
	r, err := audit.VerifyDir(context.Background(), s.Config.Audit.Dir, audit.VerifyOptions{})
	if err != nil || r.FirstSeq != 1 || !strings.HasSuffix(r.Files[0].Name, "-legacy.log") {
		t.Fatalf("after the move: %+v %v", r, err)
	}
}

// fakeDisk reports a chosen free space for every path.
type fakeDisk struct {
	mu    sync.Mutex
	avail uint64
}

func (d *fakeDisk) stat(string) (appliance.DiskSpace, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return appliance.DiskSpace{Avail: d.avail, Total: 512 << 20}, nil
}

func (d *fakeDisk) set(v uint64) {
	d.mu.Lock()
	d.avail = v
	d.mu.Unlock()
}

// TestDiskHeadroomHealth: free space is a metric; the disk check turns
// DEGRADED (still ready, watchdog still pinged) well before the disk is
// full, and DOWN (not ready) when the next writes may fail.
func TestDiskHeadroomHealth(t *testing.T) {
	lc := oneSigner(t, 1)
	s := lc.Signers[0]
	s.Config.Storage.CheckInterval = time.Second
	disk := &fakeDisk{avail: 400 << 20}
	var mu sync.Mutex
	var pings int
	notify := func(st string) {
		if st == "WATCHDOG=1" {
			mu.Lock()
			pings++
			mu.Unlock()
		}
	}
	runSigner(t, s, appliance.Options{Listeners: s.Listeners, StatFS: disk.stat, Notify: notify, WatchdogInterval: 10 * time.Millisecond})
	ops := "http://" + s.Config.Listen.Operations
	waitHealth := func(code int, status string) string {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			c, body := get(t, ops+"/healthcheck")
			if c == code && strings.Contains(body, `"disk":{"status":"`+status+`"`) {
				return body
			}
		}
		c, body := get(t, ops+"/healthcheck")
		t.Fatalf("health never reached %d with disk %s: %d %s", code, status, c, body)
		return ""
	}
	waitHealth(200, "UP")
	if _, m := get(t, ops+"/metrics"); !strings.Contains(m, `rampart_signer_disk_free_bytes{volume="audit"} 4.194304e+08`) {
		t.Errorf("free bytes metric missing:\n%s", grepLines(m, "disk"))
	}
	disk.set(60 << 20) // below 20% and 128 MiB
	body := waitHealth(200, "DEGRADED")
	if !strings.Contains(body, `"status":"DEGRADED"`) {
		t.Errorf("overall status not DEGRADED: %s", body)
	}
	signAttestations(t, s, 5, 1) // still signs
	disk.set(8 << 20)            // below 16 MiB
	waitHealth(503, "DOWN")
	mu.Lock()
	before := pings
	mu.Unlock()
	for {
		mu.Lock()
		n := pings
		mu.Unlock()
		if n > before+2 {
			break // the watchdog goes on: a restart would not free the disk
		}
		time.Sleep(10 * time.Millisecond)
	}
	disk.set(400 << 20)
	waitHealth(200, "UP")
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestReleasedSignatureIsOnDiskFirst traces a real signer's system calls
// (strace) while it signs: after the last write of audit records and
// before the HTTP response carrying the signature, an fsync of the audit
// log file must have completed. 108c238 wrote the log without fsync, so a
// power cut could lose the records of signatures already released.
func TestReleasedSignatureIsOnDiskFirst(t *testing.T) {
	if os.Getenv("RAMPART_STRACE_CHILD") != "" {
		t.Skip("in the traced child")
	}
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("strace not installed")
	}
	lc := oneSigner(t, 1)
	s := lc.Signers[0]
	lc.CloseListeners()
	trace := filepath.Join(t.TempDir(), "trace")
	if d := os.Getenv("RAMPART_KEEP_TRACE"); d != "" {
		trace = d
	}
	cmd := exec.Command("strace", "-f", "-qq", "-ttt", "-y", "-s", "24", "-e", "trace=write,fsync,fdatasync", "-o", trace,
		os.Args[0], "-test.run", "^TestTracedSignerChild$")
	cmd.Env = append(os.Environ(), "RAMPART_STRACE_CHILD="+s.ConfigPath, "SOFTHSM2_CONF="+s.SoftHSMConf)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// The child stops when its standard input closes (a signal would
	// reach strace, not it).
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ops := "http://" + s.Config.Listen.Operations + "/healthcheck"
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(ops); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("traced signer not ready")
		}
	}
	signAttestations(t, s, 5, 2)
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("traced signer: %v", err)
	}
	if msg := checkTrace(t, trace); msg != "" {
		t.Fatal(msg)
	}
}

// TestTracedSignerChild is the signer TestReleasedSignatureIsOnDiskFirst
// traces; it runs only in that child process.
func TestTracedSignerChild(t *testing.T) {
	path := os.Getenv("RAMPART_STRACE_CHILD")
	if path == "" {
		t.Skip("runs only under TestReleasedSignatureIsOnDiskFirst")
	}
	cfg, err := appliance.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	app, err := appliance.New(cfg, appliance.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	if err := app.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

var traceLine = regexp.MustCompile(`^(\d+)\s+(\d+\.\d+) (?:(write|fsync|fdatasync)\((\d+)<([^>]*)>(.*)|<\.\.\. (fsync|fdatasync) resumed>(.*))$`)

// checkTrace reads an strace -f -ttt -y log and returns what is wrong, if
// anything, for every HTTP 200 response: the audit records written before
// it must be covered by a completed fsync of the audit file.
func checkTrace(t *testing.T, path string) string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lastAuditWrite, lastAuditSync float64
	syncing := map[string]float64{} // pid -> start of an unfinished fsync of the audit file
	responses := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := traceLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		pid := m[1]
		ts, _ := strconv.ParseFloat(m[2], 64)
		isAudit := strings.Contains(m[5], "audit")
		switch {
		case m[7] != "": // resumed
			if start, ok := syncing[pid]; ok && strings.Contains(m[8], "= 0") {
				if start >= lastAuditWrite {
					lastAuditSync = ts
				}
				delete(syncing, pid)
			}
		case m[3] == "write" && isAudit:
			lastAuditWrite = ts
		case (m[3] == "fsync" || m[3] == "fdatasync") && isAudit:
			if strings.Contains(m[6], "<unfinished ...>") {
				syncing[pid] = ts
			} else if strings.Contains(m[6], "= 0") && ts >= lastAuditWrite {
				lastAuditSync = ts
			}
		case m[3] == "write" && strings.Contains(m[6], `"HTTP/1.1 200`) && lastAuditWrite > 0:
			responses++
			if lastAuditSync < lastAuditWrite {
				return fmt.Sprintf("a signature left (HTTP 200 at %.6f) after audit records were written (%.6f) with no fsync of the audit log since", ts, lastAuditWrite)
			}
		}
	}
	if responses == 0 {
		return "no HTTP 200 response found in the trace"
	}
	return ""
}
