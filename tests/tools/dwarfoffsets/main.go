// Command dwarfoffsets is a test oracle for `goscry info`'s runtime offsets: it reads a Go
// binary's DWARF with Go's own debug/dwarf (not libdw, which goscry uses) and prints, for
// each "STRUCT MEMBER.PATH" line of stdin, "STRUCT MEMBER.PATH OFFSET": the member's byte
// offset, the struct's size for an empty path, -1 when absent.
//
//	usage: go run tests/tools/dwarfoffsets/main.go BINARY < requests
package main

import (
	"bufio"
	"debug/dwarf"
	"debug/elf"
	"fmt"
	"os"
	"strings"
)

func structs(d *dwarf.Data) map[string]*dwarf.StructType {
	out := map[string]*dwarf.StructType{}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			return out
		}
		if e.Tag != dwarf.TagStructType {
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		if _, seen := out[name]; seen || name == "" {
			continue
		}
		if t, err := d.Type(e.Offset); err == nil {
			if st, ok := t.(*dwarf.StructType); ok {
				out[name] = st
			}
		}
	}
}

func underlying(t dwarf.Type) dwarf.Type {
	for {
		td, ok := t.(*dwarf.TypedefType)
		if !ok {
			return t
		}
		t = td.Type
	}
}

func offset(st *dwarf.StructType, path string) int64 {
	if path == "" {
		return st.ByteSize
	}
	total := int64(0)
	names := strings.Split(path, ".")
	for i, name := range names {
		var found *dwarf.StructField
		for _, f := range st.Field {
			if f.Name == name {
				found = f
				break
			}
		}
		if found == nil {
			return -1
		}
		total += found.ByteOffset
		if i+1 < len(names) {
			inner, ok := underlying(found.Type).(*dwarf.StructType)
			if !ok {
				return -1
			}
			st = inner
		}
	}
	return total
}

func main() {
	f, err := elf.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	d, err := f.DWARF()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	all := structs(d)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fields := strings.Fields(in.Text())
		if len(fields) == 0 {
			continue
		}
		path := ""
		if len(fields) > 1 {
			path = fields[1]
		}
		off := int64(-1)
		if st, ok := all[fields[0]]; ok {
			off = offset(st, path)
		}
		fmt.Printf("%s %s %d\n", fields[0], path, off)
	}
}
