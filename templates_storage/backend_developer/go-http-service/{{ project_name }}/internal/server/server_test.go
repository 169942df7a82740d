package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(New(slog.New(slog.NewTextHandler(io.Discard, nil))).Handler())
	t.Cleanup(ts.Close)
	return ts
}

func do(t *testing.T, method, url, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(res.Body)
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
	}
	return res, out
}

func TestHealthz(t *testing.T) {
	ts := newTestServer(t)
	res, body := do(t, http.MethodGet, ts.URL+"/healthz", "")
	if res.StatusCode != http.StatusOK || body["status"] != "ok" {
		t.Fatalf("got %d %v", res.StatusCode, body)
	}
	if res.Header.Get("X-Request-ID") == "" {
		t.Fatal("missing X-Request-ID")
	}
}

func TestItemLifecycle(t *testing.T) {
	ts := newTestServer(t)
	res, created := do(t, http.MethodPost, ts.URL+"/api/v1/items", `{"name":"widget","price_cents":1299}`)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %v", res.StatusCode, created)
	}
	id, _ := created["id"].(string)

	res, fetched := do(t, http.MethodGet, ts.URL+"/api/v1/items/"+id, "")
	if res.StatusCode != http.StatusOK || fetched["name"] != "widget" {
		t.Fatalf("get: %d %v", res.StatusCode, fetched)
	}
	if res, _ := do(t, http.MethodDelete, ts.URL+"/api/v1/items/"+id, ""); res.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", res.StatusCode)
	}
	res, problem := do(t, http.MethodGet, ts.URL+"/api/v1/items/"+id, "")
	if res.StatusCode != http.StatusNotFound || problem["status"] != float64(404) {
		t.Fatalf("after delete: %d %v", res.StatusCode, problem)
	}
}

func TestValidation(t *testing.T) {
	ts := newTestServer(t)
	cases := map[string]struct {
		body string
		want int
	}{
		"malformed":     {`{"name":`, http.StatusBadRequest},
		"unknown field": {`{"name":"a","colour":"red"}`, http.StatusBadRequest},
		"blank name":    {`{"name":"  ","price_cents":1}`, http.StatusUnprocessableEntity},
		"negative":      {`{"name":"a","price_cents":-5}`, http.StatusUnprocessableEntity},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			res, _ := do(t, http.MethodPost, ts.URL+"/api/v1/items", tc.body)
			if res.StatusCode != tc.want {
				t.Fatalf("got %d, want %d", res.StatusCode, tc.want)
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	ts := newTestServer(t)
	res, _ := do(t, http.MethodPut, ts.URL+"/healthz", "")
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("got %d", res.StatusCode)
	}
}
