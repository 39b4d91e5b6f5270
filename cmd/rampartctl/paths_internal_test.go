package main

import (
	"bufio"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/gateway"
	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/vc"
)

// repoRoot is the module's root, two levels up from cmd/rampartctl.
const repoRoot = "../.."

// layout is what the packages and their units put on a host: the files
// and directories the .debs ship (packaging/nfpm), and the directories
// and credentials systemd makes for the units (systemd/*.service).
type layout struct {
	files     map[string]string // shipped file -> package
	conffiles map[string]string // conffile -> package
	units     map[string]*unitFile
	// state, config and runtime are the names under /var/lib, /etc and
	// /run of the units' StateDirectory=, ConfigurationDirectory= and
	// RuntimeDirectory=, each with the unit that declares it.
	state, config, runtime map[string]string
	credentials            map[string]bool // LoadCredential= sources
}

type unitFile struct {
	name, pkg  string
	bin        string // ExecStart's program
	configFlag string // ExecStart's --config argument
	settings   map[string][]string
}

// dropInCredential finds a LoadCredential= line of a drop-in in the docs.
var dropInCredential = regexp.MustCompile(`LoadCredential=[a-z0-9-]+:(/etc/rampart/credentials/[a-z0-9.-]+)`)

func readLayout(t *testing.T) *layout {
	t.Helper()
	l := &layout{files: map[string]string{}, conffiles: map[string]string{}, units: map[string]*unitFile{},
		state: map[string]string{}, config: map[string]string{}, runtime: map[string]string{}, credentials: map[string]bool{}}
	configs, err := filepath.Glob(filepath.Join(repoRoot, "packaging", "nfpm", "*.yaml"))
	if err != nil || len(configs) == 0 {
		t.Fatalf("no package definitions in packaging/nfpm: %v", err)
	}
	for _, c := range configs {
		data, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		var pkg struct {
			Name     string `yaml:"name"`
			Contents []struct {
				Src  string `yaml:"src"`
				Dst  string `yaml:"dst"`
				Type string `yaml:"type"`
			} `yaml:"contents"`
		}
		if err := yaml.Unmarshal(data, &pkg); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		for _, e := range pkg.Contents {
			switch {
			case e.Type == "dir":
			case strings.HasPrefix(e.Type, "config"):
				l.conffiles[e.Dst] = pkg.Name
				l.files[e.Dst] = pkg.Name
			default:
				l.files[e.Dst] = pkg.Name
			}
		}
	}
	units, err := filepath.Glob(filepath.Join(repoRoot, "systemd", "*.service"))
	if err != nil || len(units) == 0 {
		t.Fatalf("no units in systemd/: %v", err)
	}
	for _, path := range units {
		u := &unitFile{name: filepath.Base(path), pkg: l.files["/lib/systemd/system/"+filepath.Base(path)], settings: unitSettings(t, path)}
		if u.pkg == "" {
			t.Errorf("%s: no package ships it", u.name)
		}
		for _, d := range u.settings["StateDirectory"] {
			l.state[d] = u.name
		}
		for _, d := range u.settings["ConfigurationDirectory"] {
			l.config[d] = u.name
		}
		for _, d := range u.settings["RuntimeDirectory"] {
			l.runtime[d] = u.name
		}
		for _, c := range u.settings["LoadCredential"] {
			if _, src, ok := strings.Cut(c, ":"); ok {
				l.credentials[src] = true
			}
		}
		exec := strings.Fields(strings.Join(u.settings["ExecStart"], " "))
		if len(exec) == 0 {
			t.Fatalf("%s: no ExecStart", u.name)
		}
		u.bin = exec[0]
		for i, a := range exec {
			if a == "--config" && i+1 < len(exec) {
				u.configFlag = exec[i+1]
			}
		}
		l.units[u.name] = u
	}
	// Optional credentials come through the drop-ins docs/operations.md
	// gives (the shipped unit loads only what every host has: systemd 252
	// fails every start on an absent LoadCredential= file).
	ops, err := os.ReadFile(filepath.Join(repoRoot, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range dropInCredential.FindAllSubmatch(ops, -1) {
		l.credentials[string(m[1])] = true
	}
	return l
}

func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = append(m[k], strings.Fields(v)...)
			if k == "ExecStart" || k == "LoadCredential" {
				m[k] = append(m[k][:len(m[k])-len(strings.Fields(v))], v)
			}
		}
	}
	return m
}

// under reports whether path is dir or inside it.
func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// check says what is wrong with a path a program or document names, or ""
// when the packages and units provide it: a state, configuration or
// runtime directory of a unit (or a file in one), a credential a unit
// loads, a file a package ships or a directory holding one.
func (l *layout) check(p string) string {
	p = strings.TrimRight(p, "/")
	top := func(prefix string) string {
		rest := strings.TrimPrefix(p, prefix)
		d, _, _ := strings.Cut(rest, "/")
		return d
	}
	switch {
	case strings.HasPrefix(p, "/var/lib/"):
		if l.state[top("/var/lib/")] == "" {
			return "no unit has StateDirectory=" + top("/var/lib/")
		}
	case strings.HasPrefix(p, "/run/"):
		if l.runtime[top("/run/")] == "" {
			return "no unit has RuntimeDirectory=" + top("/run/")
		}
	case strings.HasPrefix(p, "/etc/"):
		if l.config[top("/etc/")] == "" {
			return "no unit has ConfigurationDirectory=" + top("/etc/")
		}
		if under(p, "/etc/rampart/credentials") && p != "/etc/rampart/credentials" && !l.credentials[p] {
			return "no unit loads it as a credential (LoadCredential=)"
		}
	default:
		if l.files[p] != "" {
			return ""
		}
		for f := range l.files {
			if under(f, p) {
				return ""
			}
		}
		return "no package ships it"
	}
	return ""
}

// rampartPath finds the paths of Rampart's own files on an installed host.
var rampartPath = regexp.MustCompile(`(/etc/rampart|/var/lib/rampart|/run/rampart|/usr/bin/rampart|/lib/systemd/system/rampart|/usr/share/doc/rampart|/usr/share/man/man[0-9]/rampart)[A-Za-z0-9._/-]*`)

func findPaths(s string) []string {
	var out []string
	for _, m := range rampartPath.FindAllString(s, -1) {
		out = append(out, strings.TrimRight(m, ".,"))
	}
	return out
}

// TestDefaultPathsMatchThePackages is the regression test for rampartctl
// slashing import/export defaulting to /var/lib/rampart/slashing-protection.db
// while the signer's database is in /var/lib/rampart-signer: an import with
// --create and no --db protected nothing. Every default path of the
// programs must be one the packages and units provide, and the ones that
// name the same file must agree.
func TestDefaultPathsMatchThePackages(t *testing.T) {
	l := readLayout(t)

	t.Run("every unit runs a packaged program with a packaged configuration that is the program's default", func(t *testing.T) {
		for _, u := range l.units {
			if l.files[u.bin] != u.pkg {
				t.Errorf("%s runs %s, which its package %s does not ship", u.name, u.bin, u.pkg)
			}
			if u.configFlag == "" || l.conffiles[u.configFlag] != u.pkg {
				t.Errorf("%s: --config %q is not a conffile of %s", u.name, u.configFlag, u.pkg)
			}
			if got := configFlagDefault(t, filepath.Base(u.bin)); got != u.configFlag {
				t.Errorf("%s --config defaults to %q; its unit and package use %q", filepath.Base(u.bin), got, u.configFlag)
			}
		}
	})

	signer, derived := signerDefaults(t)
	signerUnit := l.units["rampart-signer.service"]
	t.Run("the signer's data directory is its unit's state directory", func(t *testing.T) {
		if signer.DataDir != "/var/lib/"+strings.Join(signerUnit.settings["StateDirectory"], "") {
			t.Errorf("appliance.Defaults().DataDir %q; rampart-signer.service has StateDirectory=%v", signer.DataDir, signerUnit.settings["StateDirectory"])
		}
	})

	flags := rampartctlPathFlags(t)
	t.Run("rampartctl's database and shares defaults are the signer's", func(t *testing.T) {
		for _, tc := range []struct{ flag, want string }{
			{"slashing import --db", derived.Slashing.Database},
			{"slashing export --db", derived.Slashing.Database},
			{"shares list --dir", derived.Accounts.SharesDir},
		} {
			if flags[tc.flag] != tc.want {
				t.Errorf("rampartctl %s defaults to %q; the signer's default is %q", tc.flag, flags[tc.flag], tc.want)
			}
		}
	})

	t.Run("every absolute path default is provided by the packages", func(t *testing.T) {
		defaults := map[string]string{
			"appliance.Defaults().DataDir":               signer.DataDir,
			"derived slashing.database":                  derived.Slashing.Database,
			"derived accounts.shares_dir":                derived.Accounts.SharesDir,
			"vc.DefaultConfig().Cluster.File":            vc.DefaultConfig().Cluster.File,
			"gateway.DefaultConfig().Cluster.File":       gateway.DefaultConfig().Cluster.File,
			"gateway unix socket in the example comment": "/run/rampart-gateway/api.sock",
		}
		for name, v := range flags {
			defaults["rampartctl "+name] = v
		}
		for name, p := range defaults {
			if why := l.check(p); why != "" {
				t.Errorf("%s = %s: %s", name, p, why)
			}
		}
	})

	t.Run("the example configurations are the packaged conffiles' sources and parse", func(t *testing.T) {
		for _, tc := range []struct {
			example, conffile string
			parse             func([]byte) error
		}{
			{"appliance/signer.example.yaml", "/etc/rampart/signer.yaml", func(b []byte) error { _, err := appliance.Parse(b); return err }},
			// The example's fee recipient is a placeholder rampart-vc refuses
			// until the operator gives an address.
			{"vc/vc.example.yaml", "/etc/rampart/vc.yaml", func(b []byte) error {
				_, err := vc.Parse([]byte(strings.Replace(string(b), "0x0000000000000000000000000000000000000001", "0x5241d0000000000000000000000000000000d0fe", 1)))
				return err
			}},
			{"gateway/gateway.example.yaml", "/etc/rampart/gateway.yaml", func(b []byte) error { _, err := gateway.Parse(b); return err }},
		} {
			data, err := os.ReadFile(filepath.Join(repoRoot, tc.example))
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.parse(data); err != nil {
				t.Errorf("%s: %v", tc.example, err)
			}
			if l.conffiles[tc.conffile] == "" {
				t.Errorf("%s: no package ships %s", tc.example, tc.conffile)
			}
		}
	})
}

// TestNamedPathsMatchThePackages: every path of an installed Rampart host
// that the code (string literals), the example configurations, the unit
// files, the manual pages or the documentation name exists on a host the
// packages set up.
func TestNamedPathsMatchThePackages(t *testing.T) {
	l := readLayout(t)
	checked := 0
	report := func(where, p string) {
		checked++
		if why := l.check(p); why != "" {
			t.Errorf("%s names %s: %s", where, p, why)
		}
	}
	// The boot test's harness makes its own files in the image under test
	// (/var/lib/rampart-bootcheck): no package provides them.
	harness := map[string]bool{"packaging/image/test": true, "packaging/image/test.sh": true}
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		rel, _ := filepath.Rel(repoRoot, path)
		if harness[rel] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if path != repoRoot && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin" || name == "dist") {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case strings.HasSuffix(name, "_test.go"):
		case strings.HasSuffix(name, ".go"):
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil {
						for _, p := range findPaths(s) {
							report(fset.Position(lit.Pos()).String(), p)
						}
					}
				}
				return true
			})
		case strings.HasSuffix(name, ".md"), strings.HasSuffix(name, ".yaml"), strings.HasSuffix(name, ".service"),
			strings.HasSuffix(name, ".8"), strings.HasSuffix(name, ".1"), strings.HasSuffix(name, ".sh"), name == "postinst", name == "postrm", name == "prerm":
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			text := string(data)
			if strings.HasSuffix(name, ".1") || strings.HasSuffix(name, ".8") {
				// A manual page writes a hyphen as \- ; read it as rendered.
				text = strings.ReplaceAll(text, `\-`, "-")
			}
			for _, p := range findPaths(text) {
				report(rel, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d paths found: the scan is broken", checked)
	}
}

// TestPathCheckCatchesDrift shows the check refuses the paths that
// drifted before.
func TestPathCheckCatchesDrift(t *testing.T) {
	l := readLayout(t)
	for _, p := range []string{
		"/var/lib/rampart/slashing-protection.db",
		"/run/rampart/api.sock",
		"/etc/rampart/credentials/pin",
		"/usr/bin/rampart-nothing",
		"/usr/share/doc/rampart-vc/nothing.md",
	} {
		if l.check(p) == "" {
			t.Errorf("%s passed the check", p)
		}
	}
	for _, p := range []string{"/var/lib/rampart-signer/audit.log", "/etc/rampart/credentials/hsm-pin", "/usr/share/doc/rampart-vc/examples/"} {
		if why := l.check(p); why != "" {
			t.Errorf("%s refused: %s", p, why)
		}
	}
}

// signerDefaults returns appliance.Defaults() and the example
// configuration parsed without its database and shares settings, which
// leaves them to be derived from data_dir as for an operator who omits them.
func signerDefaults(t *testing.T) (appliance.Config, *appliance.Config) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "appliance", "signer.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for line := range strings.Lines(string(data)) {
		if f := strings.TrimSpace(line); strings.HasPrefix(f, "database:") || strings.HasPrefix(f, "shares_dir:") {
			continue
		}
		kept = append(kept, line)
	}
	cfg, err := appliance.Parse([]byte(strings.Join(kept, "")))
	if err != nil {
		t.Fatalf("signer example without database and shares_dir: %v", err)
	}
	if cfg.DataDir != appliance.Defaults().DataDir {
		t.Fatalf("the example's data_dir %q is not the default %q", cfg.DataDir, appliance.Defaults().DataDir)
	}
	return appliance.Defaults(), cfg
}

// rampartctlPathFlags walks rampartctl's command tree and returns every
// flag whose default is an absolute path, as "group command --flag".
func rampartctlPathFlags(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(prefix string, c *cli.Command)
	walk = func(prefix string, c *cli.Command) {
		for _, s := range c.Subcommands {
			walk(strings.TrimSpace(prefix+" "+s.Name), s)
		}
		if c.Flags == nil {
			return
		}
		fs := flag.NewFlagSet(prefix, flag.ContinueOnError)
		c.Flags(fs)
		fs.VisitAll(func(f *flag.Flag) {
			if strings.HasPrefix(f.DefValue, "/") {
				out[prefix+" --"+f.Name] = f.DefValue
			}
		})
	}
	walk("", root())
	if len(out) == 0 {
		t.Fatal("no path flag found in rampartctl: the walk is broken")
	}
	return out
}

// configFlagDefault reads the default of the --config flag of cmd/prog from
// its source: the literal or constant passed to StringVar(..., "config", ...).
func configFlagDefault(t *testing.T, prog string) string {
	t.Helper()
	dir := filepath.Join(repoRoot, "cmd", prog)
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sources for %s in %s", prog, dir)
	}
	consts := map[string]string{}
	var arg ast.Expr
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for i, name := range n.Names {
					if i < len(n.Values) {
						if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							consts[name.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "StringVar" && len(n.Args) >= 3 {
					if lit, ok := n.Args[1].(*ast.BasicLit); ok && lit.Value == `"config"` {
						arg = n.Args[2]
					}
				}
			}
			return true
		})
	}
	switch a := arg.(type) {
	case *ast.BasicLit:
		s, _ := strconv.Unquote(a.Value)
		return s
	case *ast.Ident:
		return consts[a.Name]
	}
	t.Fatalf("%s: no StringVar(..., \"config\", ...) found", prog)
	return ""
}
