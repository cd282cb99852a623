"""The generated state checks of the new version (pytest-testinfra). Owned by the slice "checks" of
issue 15, which replaces this module; until it is merged the generator writes none.

write(out_dir, analysis, source) -> [(path, [TODO])]: the files written under out_dir (the draft's
staging directory) and, per file, the points a person must decide. source is the unpacked new
package (generator.source.Source: .root, .version, .product)."""


def write(out_dir, analysis, source):
    return []
