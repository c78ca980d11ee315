package schema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"cuelang.org/go/cue"
)

// decode fills a Config from the validated value, field by field through
// Config's JSON names. It reads each field with a lookup, never by
// iterating a struct's fields, which in CUE sorts them first: that sort
// made the JSON round trip decode used to be the dearest step of a
// host's load after unification. Config mirrors the schema, field for
// field (TestConfigMirrorsSchema), so the closed schema leaves nothing
// in a valid value that decode would drop.
func decode(v cue.Value) (*Config, error) {
	var c Config
	if err := decodeValue(v, reflect.ValueOf(&c).Elem()); err != nil {
		return nil, err
	}
	return &c, nil
}

// decodeAt decodes the value at a dotted config path ("immich.valkey")
// into the same place of c.
func decodeAt(v cue.Value, section string, c *Config) error {
	out := reflect.ValueOf(c).Elem()
	for _, name := range strings.Split(section, ".") {
		i, ok := fieldIndex(out.Type(), name)
		if !ok {
			return fmt.Errorf("%s: no field %s in %s", section, name, out.Type())
		}
		out = out.Field(i)
	}
	return decodeValue(v, out)
}

// decodeValue sets out, a field of Config or of one of its parts, from v.
// An empty list or struct decodes to an empty, non-nil slice or map, and
// immich.settings to what encoding/json makes of its JSON, as when
// decode went through JSON.
func decodeValue(v cue.Value, out reflect.Value) error {
	t := out.Type()
	if t == reflect.TypeFor[Secret]() {
		return decodeSecret(v, out.Addr().Interface().(*Secret))
	}
	switch t.Kind() {
	case reflect.String:
		s, err := v.String()
		if err != nil {
			return err
		}
		out.SetString(s)
	case reflect.Bool:
		b, err := v.Bool()
		if err != nil {
			return err
		}
		out.SetBool(b)
	case reflect.Int, reflect.Int64:
		i, err := v.Int64()
		if err != nil {
			return err
		}
		out.SetInt(i)
	case reflect.Slice:
		it, err := v.List()
		if err != nil {
			return err
		}
		s := reflect.MakeSlice(t, 0, 0)
		for it.Next() {
			e := reflect.New(t.Elem()).Elem()
			if err := decodeValue(it.Value(), e); err != nil {
				return err
			}
			s = reflect.Append(s, e)
		}
		out.Set(s)
	case reflect.Map:
		if t.Elem().Kind() == reflect.Interface {
			// Free-form (immich.settings): numbers as encoding/json reads them.
			b, err := v.MarshalJSON()
			if err != nil {
				return err
			}
			m := reflect.New(t)
			if err := json.Unmarshal(b, m.Interface()); err != nil {
				return err
			}
			out.Set(m.Elem())
			return nil
		}
		it, err := v.Fields()
		if err != nil {
			return err
		}
		m := reflect.MakeMap(t)
		for it.Next() {
			e := reflect.New(t.Elem()).Elem()
			if err := decodeValue(it.Value(), e); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(it.Selector().Unquoted()), e)
		}
		out.Set(m)
	case reflect.Struct:
		if err := v.Err(); err != nil {
			return err
		}
		for i := range t.NumField() {
			name, ok := jsonName(t.Field(i))
			if !ok {
				continue
			}
			fv := v.LookupPath(cue.MakePath(cue.Str(name)))
			if !fv.Exists() {
				continue // an optional field that is not set
			}
			if err := decodeValue(fv, out.Field(i)); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("decode: %s has no decoder", t)
	}
	return nil
}

// decodeSecret reads a secret as written: a literal, {env: NAME} or
// {file: PATH}; Load resolves it.
func decodeSecret(v cue.Value, s *Secret) error {
	if lit, err := v.String(); err == nil {
		s.ref = secretRef{Literal: &lit}
		return nil
	}
	if err := v.Err(); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"env", &s.ref.Env}, {"file", &s.ref.File}} {
		if fv := v.LookupPath(cue.MakePath(cue.Str(f.name))); fv.Exists() {
			str, err := fv.String()
			if err != nil {
				return err
			}
			*f.dst = str
		}
	}
	return nil
}

// jsonName is the name of a struct field in the configuration (its JSON
// tag), or false for a field that is not part of it.
func jsonName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	switch name {
	case "-":
		return "", false
	case "":
		return f.Name, true
	}
	return name, true
}

// fieldIndex finds the field of struct type t whose configuration name is name.
func fieldIndex(t reflect.Type, name string) (int, bool) {
	if t.Kind() != reflect.Struct {
		return 0, false
	}
	for i := range t.NumField() {
		if n, ok := jsonName(t.Field(i)); ok && n == name {
			return i, true
		}
	}
	return 0, false
}
