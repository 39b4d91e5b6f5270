package chaos

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
)

// The impostor stands in for a signer that answers with invalid partial
// signatures: a compromised or broken machine that still holds the
// signer's TLS identity (its key in the signer's HSM token). It answers
// discovery exactly as the real signer did (captured before it was
// stopped), and every signing request, single or batch, with a
// well-formed partial signature over the right signing root made by an
// unrelated key, so only the coordinator's verification can tell.

// CaptureAccounts asks signer id for its discovery answer with the
// validator clients' identity, from the signer's own host.
func (s *Stack) CaptureAccounts(ctx context.Context, id uint64) ([]byte, error) {
	cf, err := readYAML(s.path("cluster-wan.yaml"))
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(cf.str("client.certificate"), cf.str("client.key"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(cf.str("ca"))
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("chaos: the cluster CA does not parse")
	}
	h := s.Topo.Signer(id)
	client := s.Net.Hosts[h.Name].HTTPClient(10 * time.Second)
	client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, ServerName: SignerService(id), MinVersion: tls.VersionTLS13}
	url := "https://" + net.JoinHostPort(h.Addr().String(), strconv.Itoa(signerPortBase+int(id))) + "/api/v1/eth2/distributed/accounts"
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("chaos: signer %d accounts: status %d: %s", id, resp.StatusCode, body)
	}
	if _, err := api.DecodeAccounts(body); err != nil {
		return nil, fmt.Errorf("chaos: signer %d accounts: %w", id, err)
	}
	return body, nil
}

// RunImpostor serves the participant listener of the signer configured in
// configPath (its TLS key from the HSM token its configuration names,
// SOFTHSM2_CONF from the environment) until SIGTERM.
func RunImpostor(configPath, accountsPath string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	doc, err := readYAML(configPath)
	if err != nil {
		return err
	}
	accounts, err := os.ReadFile(accountsPath)
	if err != nil {
		return err
	}
	views, err := api.DecodeAccounts(accounts)
	if err != nil {
		return fmt.Errorf("impostor: %s: %w", accountsPath, err)
	}
	id := api.Uint64(uintOf(doc.get("node.id")))
	chain, err := os.ReadFile(doc.str("tls.certificate"))
	if err != nil {
		return err
	}
	cert, closeTok, err := hsm.OpenTLSCertificate(ctx, doc.str("tls.key"), chain)
	if err != nil {
		return fmt.Errorf("impostor: the signer's TLS identity: %w", err)
	}
	defer closeTok()
	wrong, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		return err
	}
	partial := func(root api.Root) api.Signature {
		return api.Signature(wrong.Sign(root).Bytes())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/eth2/distributed/accounts", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(accounts)
	})
	mux.HandleFunc("GET /api/v1/eth2/distributed/accounts/{identifier}", func(w http.ResponseWriter, r *http.Request) {
		for _, a := range views {
			if strings.EqualFold(a.CompositePublicKey.String(), r.PathValue("identifier")) {
				json.NewEncoder(w).Encode(a)
				return
			}
		}
		http.Error(w, `{"message":"unknown"}`, http.StatusNotFound)
	})
	mux.HandleFunc("POST /api/v1/eth2/distributed/sign/{identifier}", func(w http.ResponseWriter, r *http.Request) {
		root, err := providedRoot(r.Body)
		if err != nil {
			http.Error(w, `{"message":"bad request"}`, http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(api.PartialSignature{ParticipantID: id, SigningRoot: root, Signature: partial(root)})
	})
	mux.HandleFunc("POST /api/v1/eth2/distributed/sign", func(w http.ResponseWriter, r *http.Request) {
		var batch struct {
			Identifiers    []api.PublicKey `json:"identifiers"`
			SigningRequest json.RawMessage `json:"signing_request"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&batch); err != nil {
			http.Error(w, `{"message":"bad request"}`, http.StatusBadRequest)
			return
		}
		root, err := providedRoot(strings.NewReader(string(batch.SigningRequest)))
		if err != nil {
			http.Error(w, `{"message":"bad request"}`, http.StatusBadRequest)
			return
		}
		out := make([]api.PartialBatchResult, len(batch.Identifiers))
		for i, k := range batch.Identifiers {
			sig := partial(root)
			out[i] = api.PartialBatchResult{Identifier: k, ParticipantID: &id, SigningRoot: &root, Signature: &sig}
		}
		json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"message":"impostor"}`, http.StatusServiceUnavailable)
	})
	ln, err := tls.Listen("tcp", doc.str("listen.participant"), &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS13})
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	fmt.Fprintf(os.Stderr, "impostor: serving %s as participant %d with invalid partial signatures\n", doc.str("listen.participant"), id)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// providedRoot reads the signing root a request states (signingRoot, or
// signing_root).
func providedRoot(r io.Reader) (api.Root, error) {
	var req map[string]json.RawMessage
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(&req); err != nil {
		return api.Root{}, err
	}
	raw, ok := req["signingRoot"]
	if !ok {
		raw, ok = req["signing_root"]
	}
	if !ok {
		return api.Root{}, errors.New("no signing root")
	}
	var root api.Root
	err := json.Unmarshal(raw, &root)
	return root, err
}
