//go:build !cgo

package analytics

import "context"

// Engine is absent from a build without cgo: NewEngine refuses.
type Engine struct{}

// NewEngine returns ErrNoEngine: this build has no SQL engine.
func NewEngine(context.Context, EngineConfig) (*Engine, error) { return nil, ErrNoEngine }

// Close does nothing.
func (*Engine) Close() error { return nil }

// Run is never called: there is no Engine.
func (*Engine) Run(context.Context, *Schema, Window, []Row, string) ([][]byte, error) {
	return nil, ErrNoEngine
}

// Reload is never called: there is no Engine.
func (*Engine) Reload(context.Context) error { return ErrNoEngine }
