package monitoring

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.yaml.in/yaml/v3"
)

const (
	rulesFile     = "rampart-alerts.yml"
	dashboardFile = "rampart-dashboard.json"
	root          = "../.."
)

// daemonDirs are the directories whose code is linked into rampart-signer,
// rampart-vc and rampart-gateway and registers their metrics.
var daemonDirs = []string{"appliance", "beacon", "cmd", "gateway", "internal", "vc"}

// docFiles describe the metrics: the signer's, and the validator client's
// and gateway's.
var docFiles = []string{"docs/metrics.md", "docs/validator-client.md"}

// prometheusOwn are series Prometheus makes itself.
var prometheusOwn = map[string]bool{"up": true}

// registered is what the code registers: whole names, and name prefixes
// that are completed by a string constant of the same file (the audit log's
// table of collectors).
type registered struct {
	names    map[string]bool
	prefixes map[string][]string // prefix -> the file's string literals
}

func (r registered) has(name string) bool {
	if r.names[name] {
		return true
	}
	for p, lits := range r.prefixes {
		if rest, ok := strings.CutPrefix(name, p); ok {
			for _, l := range lits {
				if l == rest {
					return true
				}
			}
		}
	}
	return false
}

// registeredMetrics reads the daemons' Go sources: the Name of every
// prometheus.*Opts literal and the name of every prometheus.NewDesc, plus
// the Go runtime's and the process's collectors as client_golang gathers
// them.
func registeredMetrics(t *testing.T) registered {
	t.Helper()
	r := registered{names: map[string]bool{}, prefixes: map[string][]string{}}
	fset := token.NewFileSet()
	for _, dir := range daemonDirs {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			var lits []string
			var prefixes []string
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.BasicLit:
					if s, err := strconv.Unquote(n.Value); err == nil && n.Kind == token.STRING {
						lits = append(lits, s)
					}
				case *ast.CompositeLit:
					if sel, ok := n.Type.(*ast.SelectorExpr); ok && isPkg(sel.X, "prometheus") && strings.HasSuffix(sel.Sel.Name, "Opts") {
						for _, e := range n.Elts {
							if kv, ok := e.(*ast.KeyValueExpr); ok && isIdent(kv.Key, "Name") {
								if s, ok := stringLit(kv.Value); ok {
									r.names[s] = true
								} else {
									t.Errorf("%s: a metric name that is not a string literal; teach this test to read it", fset.Position(kv.Pos()))
								}
							}
						}
					}
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && isPkg(sel.X, "prometheus") && sel.Sel.Name == "NewDesc" && len(n.Args) > 0 {
						if s, ok := stringLit(n.Args[0]); ok {
							r.names[s] = true
						} else if b, ok := n.Args[0].(*ast.BinaryExpr); ok && b.Op == token.ADD {
							if p, ok := stringLit(b.X); ok {
								prefixes = append(prefixes, p)
							}
						} else {
							t.Errorf("%s: a metric name that is neither a string literal nor one plus a suffix; teach this test to read it", fset.Position(n.Pos()))
						}
					}
				}
				return true
			})
			for _, p := range prefixes {
				r.prefixes[p] = append(r.prefixes[p], lits...)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		r.names[mf.GetName()] = true
	}
	if len(r.names) < 50 {
		t.Fatalf("found only %d metric names in %v: the source scan is broken", len(r.names), daemonDirs)
	}
	return r
}

func isPkg(e ast.Expr, name string) bool { return isIdent(e, name) }

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func stringLit(e ast.Expr) (string, bool) {
	b, ok := e.(*ast.BasicLit)
	if !ok || b.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(b.Value)
	return s, err == nil
}

// documented reads the metric names the docs give in backquotes: whole
// names, "rampart_x_*" wildcards, and "`_suffix`" abbreviations that
// complete the prefix of the whole name before them in the same table cell
// ("`rampart_signer_audit_records_total`, `_lines_total`").
type documented struct {
	names     map[string]bool
	abbrevs   map[string][]string // "_suffix" -> its possible expansions
	wildcards []string
}

func (d documented) has(name string) bool {
	if d.names[name] {
		return true
	}
	for _, exps := range d.abbrevs {
		for _, e := range exps {
			if e == name {
				return true
			}
		}
	}
	for _, w := range d.wildcards {
		if strings.HasPrefix(name, w) {
			return true
		}
	}
	return false
}

var backquoted = regexp.MustCompile("`([a-z_][a-z0-9_]*\\*?)(\\{[^`]*\\})?`")

func documentedMetrics(t *testing.T) documented {
	t.Helper()
	d := documented{names: map[string]bool{}, abbrevs: map[string][]string{}}
	for _, f := range docFiles {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			for _, cell := range strings.Split(line, "|") {
				var full string
				for _, m := range backquoted.FindAllStringSubmatch(cell, -1) {
					name := m[1]
					switch {
					case strings.HasSuffix(name, "*"):
						d.wildcards = append(d.wildcards, strings.TrimSuffix(name, "*"))
					case strings.HasPrefix(name, "_") && full != "":
						// It completes one of the prefixes of the whole
						// name that end at a '_'.
						key := full + " " + name
						for i := strings.IndexByte(full, '_'); i > 0; i = nextUnderscore(full, i) {
							d.abbrevs[key] = append(d.abbrevs[key], full[:i]+name)
						}
					case strings.HasPrefix(name, "rampart_"):
						full = name
						d.names[name] = true
					}
				}
			}
		}
	}
	return d
}

func nextUnderscore(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '_')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// PromQL words that are not metric names.
var promqlWords = map[string]bool{
	"and": true, "or": true, "unless": true, "offset": true, "bool": true, "by": true, "without": true,
	"on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true,
}

var (
	quoted      = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	matchers    = regexp.MustCompile(`\{[^}]*\}`)
	ranges      = regexp.MustCompile(`\[[^\]]*\]`)
	labelLists  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	identifiers = regexp.MustCompile(`\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(\s*\()?`)
)

// metricNames returns the metric names an expression selects: every
// identifier left once strings, label matchers, ranges and label lists are
// taken out that is neither a function (followed by a parenthesis) nor a
// PromQL keyword.
func metricNames(expr string) []string {
	e := quoted.ReplaceAllString(expr, `""`)
	e = matchers.ReplaceAllString(e, " ")
	e = ranges.ReplaceAllString(e, " ")
	e = labelLists.ReplaceAllString(e, " ")
	var names []string
	for _, m := range identifiers.FindAllStringSubmatch(e, -1) {
		id := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(m[0]), "("))
		if m[1] != "" || promqlWords[id] {
			continue
		}
		names = append(names, id)
	}
	return names
}

// checkName fails unless name (a histogram's _bucket, _sum or _count
// series included) is registered by the daemons and documented.
func checkName(t *testing.T, where, name string, reg registered, doc documented) {
	t.Helper()
	if prometheusOwn[name] {
		return
	}
	base := name
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(name, s); ok && reg.has(b) {
			base = b
		}
	}
	if !reg.has(base) {
		t.Errorf("%s: metric %s is registered by none of the daemons (%v)", where, name, daemonDirs)
	}
	if !doc.has(base) && !strings.HasPrefix(base, "go_") && !strings.HasPrefix(base, "process_") {
		t.Errorf("%s: metric %s is not described in %v", where, name, docFiles)
	}
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string]string{
		`rampart_ready == 0`: "rampart_ready",
		`increase(rampart_x_total{reason=~"slashing_.*"}[10m]) > 0 or (rampart_x_total > 0 unless rampart_x_total offset 10m)`: "rampart_x_total rampart_x_total rampart_x_total",
		`histogram_quantile(0.99, sum by (le, api) (rate(a_bucket{job=~"$j"}[$__rate_interval])))`:                             "a_bucket",
		`sum without (node, state) (b{state=~"healthy|degraded"}) == 0`:                                                        "b",
		`absent(up{job="rampart-vc"})`:    "up",
		`c < 21 * 86400 and d / e > 2^20`: "c d e",
	} {
		if got := strings.Join(metricNames(expr), " "); got != want {
			t.Errorf("metricNames(%q) = %q, want %q", expr, got, want)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert  string `yaml:"alert"`
			Record string `yaml:"record"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestRulesNameKnownMetrics(t *testing.T) {
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	reg, doc := registeredMetrics(t), documentedMetrics(t)
	n := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			names := metricNames(r.Expr)
			if len(names) == 0 {
				t.Errorf("%s: rule %s%s names no metric: %q", rulesFile, r.Alert, r.Record, r.Expr)
			}
			for _, name := range names {
				checkName(t, rulesFile+": "+r.Alert+r.Record, name, reg, doc)
			}
			n++
		}
	}
	if n < 20 {
		t.Fatalf("%s: only %d rules read", rulesFile, n)
	}
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos *struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID           string  `json:"uid"`
		Title         string  `json:"title"`
		SchemaVersion int     `json:"schemaVersion"`
		Panels        []panel `json:"panels"`
		Templating    struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: not JSON: %v", dashboardFile, err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 30 {
		t.Errorf("%s: uid %q, title %q, schemaVersion %d: want a uid, a title and a current schema (>= 30)", dashboardFile, d.UID, d.Title, d.SchemaVersion)
	}
	dsVar := false
	for _, v := range d.Templating.List {
		if v.Name == "DS_PROMETHEUS" && v.Type == "datasource" && v.Query == "prometheus" {
			dsVar = true
		}
	}
	if !dsVar {
		t.Errorf("%s: no datasource variable DS_PROMETHEUS of type prometheus", dashboardFile)
	}
	reg, doc := registeredMetrics(t), documentedMetrics(t)
	ids := map[int]bool{}
	used := map[string]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			where := dashboardFile + ": panel " + strconv.Itoa(p.ID) + " " + strconv.Quote(p.Title)
			if ids[p.ID] {
				t.Errorf("%s: id used twice", where)
			}
			ids[p.ID] = true
			if p.GridPos == nil || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("%s: no valid gridPos", where)
			}
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" {
				t.Errorf("%s: datasource is not ${DS_PROMETHEUS}", where)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no query", where)
			}
			for _, tg := range p.Targets {
				names := metricNames(tg.Expr)
				if len(names) == 0 {
					t.Errorf("%s: query %s names no metric: %q", where, tg.RefID, tg.Expr)
				}
				for _, name := range names {
					checkName(t, where, name, reg, doc)
					used[strings.TrimSuffix(name, "_bucket")] = true
				}
			}
		}
	}
	walk(d.Panels)
	// What the dashboard is for: each of these has a panel.
	for _, m := range []string{
		"rampart_signer_requests_total", "rampart_signer_request_seconds", "rampart_signer_refusals_total",
		"rampart_cluster_quorum", "rampart_cluster_signer_reachable", "rampart_hsm_up",
		"rampart_signer_disk_free_ratio", "rampart_signer_audit_write_errors_total",
		"rampart_tls_certificate_expiry_seconds", "rampart_vc_published_total", "rampart_vc_duty_seconds",
	} {
		if !used[m] {
			t.Errorf("%s: no panel shows %s", dashboardFile, m)
		}
	}
}

// TestDocumentedMetricsAreRegistered keeps docs/metrics.md and
// docs/validator-client.md in step with the code the other way: every
// metric they name is one a daemon registers.
func TestDocumentedMetricsAreRegistered(t *testing.T) {
	reg, doc := registeredMetrics(t), documentedMetrics(t)
	var missing []string
	for name := range doc.names {
		if !reg.has(name) {
			missing = append(missing, name)
		}
	}
	for key, exps := range doc.abbrevs {
		found := false
		for _, e := range exps {
			found = found || reg.has(e)
		}
		if !found {
			missing = append(missing, key)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%v name metrics no daemon registers: %v", docFiles, missing)
	}
}

// TestRegisteredMetricsAreDocumented: every metric the daemons register
// by a literal name is described in the docs.
func TestRegisteredMetricsAreDocumented(t *testing.T) {
	reg, doc := registeredMetrics(t), documentedMetrics(t)
	var missing []string
	for name := range reg.names {
		if strings.HasPrefix(name, "rampart_") && !doc.has(name) {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("metrics registered but described in none of %v: %v", docFiles, missing)
	}
}
