//go:build redteam

package redteam_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-signer/rampart/appliance"
)

// The operations listener of in-process and process signers: plain HTTP
// on loopback.

// operations sends GET path to signer i's operations listener.
func (c *cluster) operations(i int, path string) reply {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return doHTTP(ctx, http.DefaultClient, http.MethodGet, "http://"+c.addr(i, appliance.ListenerOperations)+path, nil)
}

// health is signer i's /healthcheck answer.
func (c *cluster) health(i int) (reply, error) {
	r := c.operations(i, "/healthcheck")
	return r, r.err
}

// metric is the value of an unlabelled metric, or of the first series
// whose name and labels start with name (`name{label="v"`), at signer i.
func (c *cluster) metric(i int, name string) (float64, error) {
	r := c.operations(i, "/metrics")
	if r.err != nil || r.code != http.StatusOK {
		return 0, fmt.Errorf("/metrics: %d %v", r.code, r.err)
	}
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !(strings.Contains(name, "{") && strings.HasPrefix(line, name)) {
			continue
		}
		f := strings.Fields(line)
		return strconv.ParseFloat(f[len(f)-1], 64)
	}
	return 0, errors.New("no series " + name)
}

// waitFor polls cond until it holds or limit passes: the tests wait on
// states, never assert timings.
func waitFor(limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", limit)
		}
		<-tick.C
	}
	return nil
}
