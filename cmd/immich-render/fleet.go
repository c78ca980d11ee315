package main

import (
	"io"

	"github.com/immich-render/immich-render/schema"
)

// fleetRun is a render or check of a fleet configuration (top-level hosts:).
type fleetRun struct {
	inputs     []schema.Input
	opt        schema.Options
	hosts      []string // --host: only these hosts
	out        string
	secretsOut string
	check      bool
	force      bool
	quiet      bool
}

// runFleet renders or checks a fleet. (Issue 9: not implemented yet.)
func runFleet(r fleetRun, stdout, stderr io.Writer) (int, error) {
	return 0, usageError{"fleet configurations (top-level hosts:) are not supported yet"}
}

// vetFleet validates a fleet.
func vetFleet(inputs []schema.Input, opt schema.Options) (int, error) {
	return 0, usageError{"fleet configurations (top-level hosts:) are not supported yet"}
}
