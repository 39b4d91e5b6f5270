package protect

// SchemaVersion is the version of the file layout this package writes; a
// database open with it has been migrated to it (schema.go).
const SchemaVersion = currentSchema
