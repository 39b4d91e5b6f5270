package slowclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/hsm/softhsm"
	"github.com/rampart-signer/rampart/internal/proc"
)

// Client names the provisioned cluster gives out.
const (
	// Unauthorised has a certificate from the cluster CA and no rule.
	Unauthorised = "intruder"
	// Authorised may use every account and type.
	Authorised = "vc-1"
)

// Signer is a one-signer cluster on loopback, provisioned in a directory,
// whose rampart-signer process Start runs.
type Signer struct {
	Bin     string
	Cluster *localcluster.Cluster
	Log     string
	rec     proc.Record
	cmd     *exec.Cmd
}

// Provision makes a one-signer cluster in dir (empty) with an authorised
// and an unauthorised client, the plain loopback listener open, for the
// signer binary bin.
func Provision(ctx context.Context, dir, bin string) (*Signer, error) {
	lc, err := localcluster.Provision(ctx, localcluster.Spec{
		Dir: dir, Signers: 1, Threshold: 1,
		Network:         appliance.NetworkConfig{Name: "mainnet"},
		CoordinatorHTTP: "127.0.0.1:0",
		Clients:         []string{Authorised}, UnauthorisedClients: []string{Unauthorised},
		Hardening: "best-effort", SeparateHSMs: true,
	})
	if err != nil {
		return nil, err
	}
	lc.CloseListeners()
	return &Signer{Bin: bin, Cluster: lc, Log: filepath.Join(dir, "signer.log")}, nil
}

// Start runs the signer process and waits until it is healthy.
func (s *Signer) Start(ctx context.Context) error {
	sc := s.Cluster.Signers[0]
	logf, err := os.OpenFile(s.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.Bin, "--config", sc.ConfigPath)
	cmd.Env = append(os.Environ(), softhsm.ConfigEnv+"="+sc.SoftHSMConf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if s.rec, err = proc.Start(cmd); err != nil {
		return err
	}
	s.cmd = cmd
	go func() { _ = cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + sc.Config.Listen.Operations + "/healthcheck")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if !s.rec.Alive() {
			return fmt.Errorf("slowclient: the signer exited while starting; see %s", s.Log)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("slowclient: the signer was not healthy after 60 s; see %s", s.Log)
}

// PID is the running signer's process id.
func (s *Signer) PID() int { return s.rec.PID }

// Stop stops the signer process.
func (s *Signer) Stop(ctx context.Context) error {
	if s.rec.PID == 0 {
		return nil
	}
	err := s.rec.Stop(ctx, 30*time.Second)
	s.rec = proc.Record{}
	return err
}

// ClientTLS is the TLS configuration of a provisioned client.
func (s *Signer) ClientTLS(name string) (*tls.Config, error) {
	cl := s.Cluster.Client(name)
	if cl == nil {
		return nil, fmt.Errorf("slowclient: no client %q", name)
	}
	cert, err := tls.LoadX509KeyPair(cl.CertPath, cl.KeyPath)
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(s.Cluster.CAPath)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &tls.Config{
		MinVersion: tls.VersionTLS13, RootCAs: pool, Certificates: []tls.Certificate{cert},
		ServerName: s.Cluster.Signers[0].Name,
	}, nil
}

// anyKey is a well-formed public key the signer does not hold: the
// requests never get as far as looking it up.
var anyKey = "0xa0" + strings.Repeat("0", 94)

// Scenarios are the three targets of issue 13: a certificate the policy
// denies everything on the mTLS coordinator listener, the plain loopback
// listener (whose fixed client name is authorised), and an authorised
// client sending slowly over mTLS.
func (s *Signer) Scenarios() ([]Target, error) {
	sc := s.Cluster.Signers[0].Config
	intruder, err := s.ClientTLS(Unauthorised)
	if err != nil {
		return nil, err
	}
	vc, err := s.ClientTLS(Authorised)
	if err != nil {
		return nil, err
	}
	path := "/api/v1/eth2/sign/" + anyKey
	return []Target{
		{Name: "mTLS coordinator, unauthorised certificate", Addr: sc.Listen.Coordinator, TLS: intruder, Path: path, Expect: 403},
		{Name: "plain loopback listener", Addr: sc.Listen.CoordinatorInsecureLoopback, Path: path, Expect: 408},
		{Name: "mTLS coordinator, authorised client sending slowly", Addr: sc.Listen.Coordinator, TLS: vc, Path: path, Expect: 408},
	}, nil
}
