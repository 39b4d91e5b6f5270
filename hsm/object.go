package hsm

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/miekg/pkcs11"
)

// Object names a key in a token: its label (CKA_LABEL) and, optionally, its
// id (CKA_ID). [URI.ObjectRef] gives the object a URI names.
type Object struct {
	Label string
	ID    []byte
}

// String renders the object for messages: the quoted label and the id in
// hex when set.
func (o Object) String() string {
	if len(o.ID) == 0 {
		return strconv.Quote(o.Label)
	}
	return fmt.Sprintf("%q (id %x)", o.Label, o.ID)
}

func (o Object) validate() error {
	u := URI{}
	switch {
	case o.Label == "":
		return fmt.Errorf("%w: no object label (add ;object=LABEL to the URI)", ErrInvalidURI)
	case len(o.ID) > maxObjectID:
		return fmt.Errorf("%w: id has %d bytes, at most %d", ErrInvalidURI, len(o.ID), maxObjectID)
	}
	return setText(&u.Object, []byte(o.Label), "object", maxObjectLabel)
}

// prepareNewKey validates o for a key about to be created, checks that the
// token supports the mechanisms, and gives o a random id when it has none.
func (t *Token) prepareNewKey(ctx context.Context, o Object, needs ...mechanismNeed) (Object, error) {
	if err := o.validate(); err != nil {
		return o, err
	}
	if err := t.checkMechanisms(ctx, needs...); err != nil {
		return o, err
	}
	if len(o.ID) == 0 {
		o.ID = make([]byte, keyIDLength)
		if _, err := io.ReadFull(t.opts.Rand, o.ID); err != nil {
			return o, fmt.Errorf("hsm: drawing a key id: %w", err)
		}
	}
	return o, nil
}

// template returns the search attributes for the object, restricted to a
// class unless class is noClass.
func (o Object) template(class uint) []*pkcs11.Attribute {
	t := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, o.Label)}
	if len(o.ID) > 0 {
		t = append(t, pkcs11.NewAttribute(pkcs11.CKA_ID, o.ID))
	}
	if class != noClass {
		t = append(t, pkcs11.NewAttribute(pkcs11.CKA_CLASS, class))
	}
	return t
}

// noClass asks template for objects of any class.
const noClass = ^uint(0)

// maxFound bounds a search; finding more than one object is already an
// error for every caller.
const maxFound = 8

// findObjects returns the handles of the objects matching template.
func findObjects(p objectFinder, s pkcs11.SessionHandle, template []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := p.FindObjectsInit(s, template); err != nil {
		return nil, callError("C_FindObjectsInit", err)
	}
	found, _, err := p.FindObjects(s, maxFound)
	if ferr := p.FindObjectsFinal(s); err == nil && ferr != nil {
		return nil, callError("C_FindObjectsFinal", ferr)
	}
	if err != nil {
		return nil, callError("C_FindObjects", err)
	}
	return found, nil
}

// findOne returns the single object of the class matching o.
func findOne(p objectFinder, s pkcs11.SessionHandle, o Object, class uint, what string) (pkcs11.ObjectHandle, error) {
	found, err := findObjects(p, s, o.template(class))
	if err != nil {
		return 0, err
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("%w: no %s %v", ErrKeyNotFound, what, o)
	case 1:
		return found[0], nil
	}
	return 0, fmt.Errorf("%w: %d objects are %s %v; give the id in the URI", ErrKeyAmbiguous, len(found), what, o)
}

// refuseExisting fails when any object has o's label, or o's id when set:
// creating a key never shadows or replaces another object.
func refuseExisting(p objectFinder, s pkcs11.SessionHandle, o Object) error {
	byLabel := Object{Label: o.Label}
	found, err := findObjects(p, s, byLabel.template(noClass))
	if err != nil {
		return err
	}
	if len(found) > 0 {
		return fmt.Errorf("%w: the token already holds an object labelled %q; nothing was changed", ErrKeyExists, o.Label)
	}
	if len(o.ID) == 0 {
		return nil
	}
	found, err = findObjects(p, s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, o.ID)})
	if err != nil {
		return err
	}
	if len(found) > 0 {
		return fmt.Errorf("%w: the token already holds an object with id %x; nothing was changed", ErrKeyExists, o.ID)
	}
	return nil
}

// readID returns the object's CKA_ID.
func readID(p attributeReader, s pkcs11.SessionHandle, h pkcs11.ObjectHandle) ([]byte, error) {
	id, err := readAttribute(p, s, h, pkcs11.CKA_ID, "CKA_ID")
	if _, ok := returnCode(err); ok {
		return nil, callError("C_GetAttributeValue(CKA_ID)", err)
	}
	return id, err
}

// readAttribute reads one attribute of an object. A module that answers
// with other attributes than the one asked for is refused (ErrModule)
// rather than trusted or indexed out of range. The module's own errors are
// returned as they are, for the caller to classify.
func readAttribute(p attributeReader, s pkcs11.SessionHandle, h pkcs11.ObjectHandle, typ uint, name string) ([]byte, error) {
	got, err := p.GetAttributeValue(s, h, []*pkcs11.Attribute{pkcs11.NewAttribute(typ, nil)})
	if err != nil {
		return nil, err
	}
	if len(got) != 1 || got[0] == nil || got[0].Type != typ {
		return nil, fmt.Errorf("%w: C_GetAttributeValue(%s) answered with other attributes than %s", ErrModule, name, name)
	}
	return got[0].Value, nil
}

// attrRule is one attribute a key must have, with the exact encoding the
// module must return.
type attrRule struct {
	typ  uint
	name string
	want []byte
	show func([]byte) string
}

// secretRules are the rules every key holding a secret obeys: a private,
// sensitive token object that was never readable or extractable.
func secretRules() []attrRule {
	return []attrRule{
		boolRule(pkcs11.CKA_TOKEN, "CKA_TOKEN", true),
		boolRule(pkcs11.CKA_PRIVATE, "CKA_PRIVATE", true),
		boolRule(pkcs11.CKA_SENSITIVE, "CKA_SENSITIVE", true),
		boolRule(pkcs11.CKA_EXTRACTABLE, "CKA_EXTRACTABLE", false),
		boolRule(pkcs11.CKA_ALWAYS_SENSITIVE, "CKA_ALWAYS_SENSITIVE", true),
		boolRule(pkcs11.CKA_NEVER_EXTRACTABLE, "CKA_NEVER_EXTRACTABLE", true),
	}
}

func boolRule(typ uint, name string, v bool) attrRule {
	return attrRule{typ: typ, name: name, want: pkcs11.NewAttribute(typ, v).Value, show: showBool}
}

func ulongRule(typ uint, name string, v uint, show func([]byte) string) attrRule {
	return attrRule{typ: typ, name: name, want: ulongBytes(v), show: show}
}

func bytesRule(typ uint, name string, v []byte) attrRule {
	return attrRule{typ: typ, name: name, want: v, show: hex.EncodeToString}
}

func mechanismsRule(mechs ...uint) attrRule {
	var want []byte
	for _, m := range mechs {
		want = append(want, ulongBytes(m)...)
	}
	return attrRule{typ: pkcs11.CKA_ALLOWED_MECHANISMS, name: "CKA_ALLOWED_MECHANISMS", want: want, show: showMechanisms}
}

// ulongBytes encodes a CK_ULONG as the module expects it (native size and
// byte order), using the encoding miekg/pkcs11 gives attribute values.
func ulongBytes(v uint) []byte { return pkcs11.NewAttribute(0, v).Value }

// decodeULong decodes a CK_ULONG attribute value (native size and order).
func decodeULong(b []byte) (uint, bool) {
	switch {
	case len(b) != len(ulongBytes(0)):
		return 0, false
	case len(b) == 8:
		return uint(binary.NativeEndian.Uint64(b)), true
	case len(b) == 4:
		return uint(binary.NativeEndian.Uint32(b)), true
	}
	return 0, false
}

func showBool(b []byte) string {
	switch {
	case len(b) == 1 && b[0] == 0:
		return "false"
	case len(b) == 1:
		return "true"
	}
	return fmt.Sprintf("%x", b)
}

func showULong(b []byte) string {
	if v, ok := decodeULong(b); ok {
		return strconv.FormatUint(uint64(v), 10)
	}
	return fmt.Sprintf("%x", b)
}

func showMechanisms(b []byte) string {
	n := len(ulongBytes(0))
	if len(b)%n != 0 {
		return fmt.Sprintf("%x", b)
	}
	if len(b) == 0 {
		return "none listed (any mechanism)"
	}
	var names []string
	for i := 0; i < len(b); i += n {
		m, _ := decodeULong(b[i : i+n])
		names = append(names, mechanismName(m))
	}
	return strings.Join(names, ",")
}

func showKeyType(b []byte) string {
	v, ok := decodeULong(b)
	switch {
	case !ok:
		return fmt.Sprintf("%x", b)
	case v == pkcs11.CKK_AES:
		return "CKK_AES"
	case v == pkcs11.CKK_EC:
		return "CKK_EC"
	}
	return fmt.Sprintf("0x%x", v)
}

func showClass(b []byte) string {
	v, ok := decodeULong(b)
	switch {
	case !ok:
		return fmt.Sprintf("%x", b)
	case v == pkcs11.CKO_SECRET_KEY:
		return "CKO_SECRET_KEY"
	case v == pkcs11.CKO_PRIVATE_KEY:
		return "CKO_PRIVATE_KEY"
	case v == pkcs11.CKO_PUBLIC_KEY:
		return "CKO_PUBLIC_KEY"
	}
	return fmt.Sprintf("0x%x", v)
}

var mechanismNames = map[uint]string{
	pkcs11.CKM_AES_GCM:               "CKM_AES_GCM",
	pkcs11.CKM_AES_KEY_GEN:           "CKM_AES_KEY_GEN",
	pkcs11.CKM_EC_KEY_PAIR_GEN:       "CKM_EC_KEY_PAIR_GEN",
	pkcs11.CKM_ECDSA:                 "CKM_ECDSA",
	pkcs11.CKM_AES_CBC:               "CKM_AES_CBC",
	pkcs11.CKM_AES_CBC_PAD:           "CKM_AES_CBC_PAD",
	pkcs11.CKM_AES_ECB:               "CKM_AES_ECB",
	pkcs11.CKM_AES_KEY_WRAP:          "CKM_AES_KEY_WRAP",
	pkcs11.CKM_AES_KEY_WRAP_PAD:      "CKM_AES_KEY_WRAP_PAD",
	pkcs11.CKM_ECDSA_SHA256:          "CKM_ECDSA_SHA256",
	pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN: "CKM_RSA_PKCS_KEY_PAIR_GEN",
}

func mechanismName(m uint) string {
	if n, ok := mechanismNames[m]; ok {
		return n
	}
	return fmt.Sprintf("0x%x", m)
}

// checkAttributes reads each rule's attribute and fails with
// ErrKeyAttributes naming the first that differs. Attributes are read one
// at a time so a module that does not know one is named precisely.
func checkAttributes(p attributeReader, s pkcs11.SessionHandle, h pkcs11.ObjectHandle, rules []attrRule, what string) error {
	for _, r := range rules {
		got, err := readAttribute(p, s, h, r.typ, r.name)
		if err != nil {
			code, ok := returnCode(err)
			switch {
			case !ok:
				return err
			case code == pkcs11.CKR_ATTRIBUTE_TYPE_INVALID || code == pkcs11.CKR_ATTRIBUTE_SENSITIVE:
				return fmt.Errorf("%w: %s: the module cannot report %s (%s)", ErrKeyAttributes, what, r.name, codeName(code))
			}
			return callError("C_GetAttributeValue("+r.name+")", err)
		}
		if !bytes.Equal(got, r.want) {
			return fmt.Errorf("%w: %s: %s is %s, want %s", ErrKeyAttributes, what, r.name, r.show(got), r.show(r.want))
		}
	}
	return nil
}
