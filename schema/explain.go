package schema

import "errors"

// JSONSchema is a stub.
func JSONSchema() ([]byte, error) { return nil, errors.New("not yet") }

// Explain is a stub.
func Explain(string) (string, error) { return "", errors.New("not yet") }
