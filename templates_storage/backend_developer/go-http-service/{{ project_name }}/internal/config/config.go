// Package config reads runtime settings from environment variables.
package config

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// Config holds the service settings.
type Config struct {
	Port          int
	LogLevel      slog.Level
	ShutdownGrace time.Duration
}

// Addr returns the listen address.
func (c Config) Addr() string { return fmt.Sprintf(":%d", c.Port) }

// FromEnv reads PORT, LOG_LEVEL and SHUTDOWN_GRACE with sensible defaults.
func FromEnv() (Config, error) {
	cfg := Config{Port: {{ port }}, LogLevel: slog.LevelInfo, ShutdownGrace: 20 * time.Second}
	if v := os.Getenv("PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			return cfg, fmt.Errorf("invalid PORT %q", v)
		}
		cfg.Port = p
	}
	if v := os.Getenv("LOG_LEVEL"); v != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return cfg, fmt.Errorf("invalid LOG_LEVEL %q: %w", v, err)
		}
	}
	if v := os.Getenv("SHUTDOWN_GRACE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return cfg, fmt.Errorf("invalid SHUTDOWN_GRACE %q: %w", v, err)
		}
		cfg.ShutdownGrace = d
	}
	return cfg, nil
}
