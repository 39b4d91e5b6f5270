package vc

import (
	"bytes"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/atomicfile"
)

// override is one validator's proposer settings over the configuration's;
// a nil field falls back to it.
type override struct {
	FeeRecipient *bellatrix.ExecutionAddress
	GasLimit     *uint64
	Graffiti     *string
}

// overrideJSON is an override as the settings file keeps it.
type overrideJSON struct {
	FeeRecipient string  `json:"fee_recipient,omitempty"`
	GasLimit     string  `json:"gas_limit,omitempty"`
	Graffiti     *string `json:"graffiti,omitempty"`
}

// settingsFile is the settings file's document.
type settingsFile struct {
	Version    int                     `json:"version"`
	Validators map[string]overrideJSON `json:"validators"`
}

// maxSettingsFile bounds the settings file: about 200 bytes per validator
// of a cluster's largest account list.
const maxSettingsFile = 256 << 20

// proposerSettings holds the per-validator settings and their file. The
// number of entries is bounded by the validators the client serves: the
// API refuses keys it does not serve.
type proposerSettings struct {
	mu   sync.RWMutex
	path string
	m    map[phase0.BLSPubKey]override
}

// loadProposerSettings reads path if it exists ("" keeps nothing).
func loadProposerSettings(path string) (*proposerSettings, error) {
	s := &proposerSettings{path: path, m: map[phase0.BLSPubKey]override{}}
	if path == "" {
		return s, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keymanager.settings_file: %w", err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxSettingsFile+1))
	if err != nil {
		return nil, fmt.Errorf("keymanager.settings_file %s: %w", path, err)
	}
	if len(raw) > maxSettingsFile {
		return nil, fmt.Errorf("keymanager.settings_file %s: larger than %d bytes", path, maxSettingsFile)
	}
	var doc settingsFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("keymanager.settings_file %s: %w", path, err)
	}
	if doc.Version != 1 {
		return nil, fmt.Errorf("keymanager.settings_file %s: version %d, this rampart-vc reads 1", path, doc.Version)
	}
	for k, v := range doc.Validators {
		key, err := api.ParsePublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("keymanager.settings_file %s: validators[%q]: %v", path, k, err)
		}
		var o override
		if v.FeeRecipient != "" {
			a, err := parseFeeRecipient(v.FeeRecipient)
			if err != nil {
				return nil, fmt.Errorf("keymanager.settings_file %s: validators[%q].fee_recipient: %v", path, k, err)
			}
			o.FeeRecipient = &a
		}
		if v.GasLimit != "" {
			g, err := parseGasLimit(v.GasLimit)
			if err != nil {
				return nil, fmt.Errorf("keymanager.settings_file %s: validators[%q].gas_limit: %v", path, k, err)
			}
			o.GasLimit = &g
		}
		if v.Graffiti != nil {
			if err := checkGraffiti(*v.Graffiti); err != nil {
				return nil, fmt.Errorf("keymanager.settings_file %s: validators[%q].graffiti: %v", path, k, err)
			}
			o.Graffiti = v.Graffiti
		}
		s.m[phase0.BLSPubKey(key)] = o
	}
	return s, nil
}

func (s *proposerSettings) get(k phase0.BLSPubKey) override {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[k]
}

// update changes one validator's settings and writes the file before the
// change takes effect: a change the file does not hold is not made.
func (s *proposerSettings) update(k phase0.BLSPubKey, change func(*override)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.m[k]
	change(&o)
	next := make(map[phase0.BLSPubKey]override, len(s.m)+1)
	for key, v := range s.m {
		next[key] = v
	}
	if o == (override{}) {
		delete(next, k)
	} else {
		next[k] = o
	}
	if err := s.write(next); err != nil {
		return err
	}
	s.m = next
	return nil
}

// write saves m through a synced temporary file renamed over the file.
func (s *proposerSettings) write(m map[phase0.BLSPubKey]override) error {
	if s.path == "" {
		return errors.New("no keymanager.settings_file to keep the settings in")
	}
	doc := settingsFile{Version: 1, Validators: make(map[string]overrideJSON, len(m))}
	for k, o := range m {
		var v overrideJSON
		if o.FeeRecipient != nil {
			v.FeeRecipient = "0x" + hex.EncodeToString(o.FeeRecipient[:])
		}
		if o.GasLimit != nil {
			v.GasLimit = strconv.FormatUint(*o.GasLimit, 10)
		}
		v.Graffiti = o.Graffiti
		doc.Validators[api.PublicKey(k).String()] = v
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.path, append(data, '\n'), 0o600)
}

func parseFeeRecipient(s string) (bellatrix.ExecutionAddress, error) {
	var a bellatrix.ExecutionAddress
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if !strings.HasPrefix(s, "0x") || err != nil || len(b) != len(a) {
		return a, fmt.Errorf("%q is not a 0x-prefixed 20-byte hex address", s)
	}
	copy(a[:], b)
	return a, checkFeeRecipient(a)
}

func parseGasLimit(s string) (uint64, error) {
	g, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a decimal integer", s)
	}
	if g < minGasLimit {
		return 0, fmt.Errorf("%d is below the protocol minimum %d", g, minGasLimit)
	}
	return g, nil
}

func checkGraffiti(s string) error {
	if len(s) > 32 || !utf8.ValidString(s) {
		return fmt.Errorf("at most 32 bytes of UTF-8 (this is %d bytes)", len(s))
	}
	return nil
}

// feeRecipientFor, gasLimitFor and graffitiFor are a validator's settings:
// its own, else the configuration's.
func (c *Client) feeRecipientFor(k phase0.BLSPubKey) bellatrix.ExecutionAddress {
	if o := c.settings.get(k); o.FeeRecipient != nil {
		return *o.FeeRecipient
	}
	return c.feeRecipient
}

func (c *Client) gasLimitFor(k phase0.BLSPubKey) uint64 {
	if o := c.settings.get(k); o.GasLimit != nil {
		return *o.GasLimit
	}
	return c.cfg.Builder.GasLimit
}

func (c *Client) graffitiFor(k phase0.BLSPubKey) [32]byte {
	if o := c.settings.get(k); o.Graffiti != nil {
		var g [32]byte
		copy(g[:], *o.Graffiti)
		return g
	}
	return c.graffiti
}

// KeymanagerHandler serves the keymanager API's proposer settings for the
// validators this client serves, to requests carrying token as a bearer
// token: GET, POST and DELETE /eth/v1/validator/{pubkey}/feerecipient,
// /gas_limit and /graffiti. A POST answers 202 and a DELETE 204 once the
// settings file holds the change; an unknown validator is 404.
func (c *Client) KeymanagerHandler(token []byte) http.Handler {
	mux := http.NewServeMux()
	type field struct {
		path, name string
		get        func(phase0.BLSPubKey) any
		set        func(*override, string) error
		clear      func(*override)
	}
	fields := []field{
		{"feerecipient", "ethaddress",
			func(k phase0.BLSPubKey) any { a := c.feeRecipientFor(k); return "0x" + hex.EncodeToString(a[:]) },
			func(o *override, v string) error {
				a, err := parseFeeRecipient(v)
				o.FeeRecipient = &a
				return err
			},
			func(o *override) { o.FeeRecipient = nil }},
		{"gas_limit", "gas_limit",
			func(k phase0.BLSPubKey) any { return strconv.FormatUint(c.gasLimitFor(k), 10) },
			func(o *override, v string) error {
				g, err := parseGasLimit(v)
				o.GasLimit = &g
				return err
			},
			func(o *override) { o.GasLimit = nil }},
		{"graffiti", "graffiti",
			func(k phase0.BLSPubKey) any { g := c.graffitiFor(k); return strings.TrimRight(string(g[:]), "\x00") },
			func(o *override, v string) error {
				o.Graffiti = &v
				return checkGraffiti(v)
			},
			func(o *override) { o.Graffiti = nil }},
	}
	for _, f := range fields {
		p := "/eth/v1/validator/{pubkey}/" + f.path
		mux.HandleFunc("GET "+p, c.keymanagerAuth(token, func(w http.ResponseWriter, r *http.Request, k phase0.BLSPubKey) {
			writeKeymanager(w, http.StatusOK, map[string]any{"data": map[string]any{"pubkey": api.PublicKey(k).String(), f.name: f.get(k)}})
		}))
		mux.HandleFunc("POST "+p, c.keymanagerAuth(token, func(w http.ResponseWriter, r *http.Request, k phase0.BLSPubKey) {
			var body map[string]json.RawMessage
			dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
			if err := dec.Decode(&body); err != nil {
				keymanagerError(w, http.StatusBadRequest, "request body: %v", err)
				return
			}
			raw, ok := body[f.name]
			if !ok || len(body) != 1 {
				keymanagerError(w, http.StatusBadRequest, "request body: want {%q: ...}", f.name)
				return
			}
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				keymanagerError(w, http.StatusBadRequest, "%s: want a string", f.name)
				return
			}
			var bad error
			err := c.settings.update(k, func(o *override) {
				next := *o
				if bad = f.set(&next, v); bad == nil {
					*o = next
				}
			})
			switch {
			case bad != nil:
				keymanagerError(w, http.StatusBadRequest, "%s: %v", f.name, bad)
			case err != nil:
				c.log.Error("keymanager: proposer settings not saved", "err", err)
				keymanagerError(w, http.StatusInternalServerError, "the settings could not be saved: %v", err)
			default:
				c.log.Info("keymanager: proposer setting changed", "validator", api.PublicKey(k).String(), f.name, v)
				w.WriteHeader(http.StatusAccepted)
			}
		}))
		mux.HandleFunc("DELETE "+p, c.keymanagerAuth(token, func(w http.ResponseWriter, r *http.Request, k phase0.BLSPubKey) {
			if err := c.settings.update(k, f.clear); err != nil {
				keymanagerError(w, http.StatusInternalServerError, "the settings could not be saved: %v", err)
				return
			}
			c.log.Info("keymanager: proposer setting back to the configuration's", "validator", api.PublicKey(k).String(), "setting", f.name)
			w.WriteHeader(http.StatusNoContent)
		}))
	}
	return mux
}

// keymanagerAuth checks the bearer token and the validator before h.
func (c *Client) keymanagerAuth(token []byte, h func(http.ResponseWriter, *http.Request, phase0.BLSPubKey)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			w.Header().Set("WWW-Authenticate", "Bearer")
			keymanagerError(w, http.StatusUnauthorized, "missing bearer token (Authorization: Bearer, keymanager.token_file)")
			return
		}
		if len(token) == 0 || subtle.ConstantTimeCompare([]byte(got), token) != 1 {
			keymanagerError(w, http.StatusForbidden, "invalid bearer token")
			return
		}
		key, err := api.ParsePublicKey(r.PathValue("pubkey"))
		if err != nil {
			keymanagerError(w, http.StatusBadRequest, "pubkey: %v", err)
			return
		}
		if !c.serves(key) {
			keymanagerError(w, http.StatusNotFound, "validator %s is not one this client serves", key)
			return
		}
		h(w, r, phase0.BLSPubKey(key))
	}
}

// serves reports whether key is one of the cluster's accounts this client
// performs duties for.
func (c *Client) serves(key api.PublicKey) bool {
	for _, k := range c.accounts() {
		if k == phase0.BLSPubKey(key) {
			return true
		}
	}
	return false
}

func writeKeymanager(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func keymanagerError(w http.ResponseWriter, code int, format string, a ...any) {
	writeKeymanager(w, code, map[string]any{"message": fmt.Sprintf(format, a...)})
}
