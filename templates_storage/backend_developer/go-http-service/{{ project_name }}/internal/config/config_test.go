package config

import (
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	t.Setenv("PORT", "")
	cfg, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != {{ port }} || cfg.ShutdownGrace != 20*time.Second {
		t.Fatalf("unexpected defaults: %+v", cfg)
	}
}

func TestInvalidPort(t *testing.T) {
	t.Setenv("PORT", "not-a-number")
	if _, err := FromEnv(); err == nil {
		t.Fatal("expected an error for an invalid PORT")
	}
}
