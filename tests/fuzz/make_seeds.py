#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets into tests/fixtures/fuzz/<target>/seed_*.

Run from the repository root (a developer tool; CI only replays the committed corpora). Seeds are
small versions of the fixtures: real tensor names and configs, tiny shapes. Inputs the fuzzers
added are merged in afterwards (tests/fuzz/README.md). Packed manifests and routing traces are
copied from files the engine wrote (pass them with --manifest / --trace).
"""
import argparse, copy, glob, json, os, struct

OUT = 'tests/fixtures/fuzz'


def put(target, name, blob):
    os.makedirs(f'{OUT}/{target}', exist_ok=True)
    if isinstance(blob, str):
        blob = blob.encode()
    with open(f'{OUT}/{target}/seed_{name}', 'wb') as f:
        f.write(blob)


def safetensors(tensors, metadata=None, pad_to=8):
    header, data = {}, b''
    sizes = {'F32': 4, 'F16': 2, 'BF16': 2, 'I32': 4, 'U32': 4, 'I64': 8, 'U8': 1, 'I8': 1}
    for name, dtype, shape in tensors:
        n = sizes[dtype]
        for d in shape:
            n *= d
        header[name] = {'dtype': dtype, 'shape': shape, 'data_offsets': [len(data), len(data) + n]}
        data += bytes((i * 7 + 3) % 251 for i in range(n))
    if metadata is not None:
        header['__metadata__'] = metadata
    hb = json.dumps(header, separators=(',', ':')).encode()
    hb += b' ' * ((-len(hb)) % pad_to)
    return struct.pack('<Q', len(hb)) + hb + data


def seeds_safetensors():
    put('safetensors', 'dtypes', safetensors([
        ('a.f32', 'F32', [2, 3]), ('b.f16', 'F16', [4]), ('c.bf16', 'BF16', [2, 2]),
        ('d.i32', 'I32', [1]), ('e.u32', 'U32', [2]), ('f.i64', 'I64', [1, 1]),
        ('g.u8', 'U8', [3]), ('h.i8', 'I8', [5])], {'format': 'pt'}))
    put('safetensors', 'qwen35_layer', safetensors([
        ('model.embed_tokens.weight', 'F32', [8, 4]),
        ('model.layers.0.input_layernorm.weight', 'F32', [4]),
        ('model.layers.0.mlp.experts.0.gate_proj.weight', 'BF16', [2, 4]),
        ('model.layers.0.mlp.experts.gate_up_proj', 'F16', [2, 4, 4]),
        ('model.layers.0.linear_attn.A_log', 'F32', [2]),
        ('lm_head.weight', 'F32', [8, 4])]))
    put('safetensors', 'scalar_empty', safetensors([('s', 'F32', []), ('z', 'F32', [0, 3])]))
    put('safetensors', 'odd_header', safetensors([('x', 'F32', [2])], pad_to=1))
    put('safetensors', 'mlx_quant', safetensors([
        ('model.layers.0.mlp.switch_mlp.gate_proj.weight', 'U32', [2, 4, 1]),
        ('model.layers.0.mlp.switch_mlp.gate_proj.scales', 'BF16', [2, 4, 1]),
        ('model.layers.0.mlp.switch_mlp.gate_proj.biases', 'BF16', [2, 4, 1])],
        {'format': 'mlx'}))


def seeds_index():
    wm = {'model.embed_tokens.weight': 'model-00001-of-00002.safetensors',
          'model.norm.weight': 'model-00001-of-00002.safetensors',
          'lm_head.weight': 'model-00002-of-00002.safetensors',
          'model.layers.0.mlp.gate.weight': 'model-00002-of-00002.safetensors'}
    put('safetensors_index', 'two_shards', json.dumps({'metadata': {'total_size': 48}, 'weight_map': wm}, indent=2))
    one = {k: v for k, v in wm.items() if v.endswith('1-of-00002.safetensors')}
    put('safetensors_index', 'one_shard', json.dumps({'weight_map': one}))
    dot = {k: './' + v for k, v in wm.items()}
    put('safetensors_index', 'dot_names', json.dumps({'weight_map': dot}))
    real = json.load(open('tests/fixtures/models/q35_vl_bf16_sharded/model.safetensors.index.json'))
    keys = sorted(real['weight_map'])[:12]
    put('safetensors_index', 'real_names', json.dumps({'metadata': real.get('metadata', {}),
        'weight_map': {k: real['weight_map'][k] for k in keys}}, indent=2))


def seeds_config():
    files = sorted(glob.glob('tests/fixtures/models/*/config.json') + glob.glob('tests/fixtures/configs/*.json') +
                   glob.glob('tests/fixtures/mlx/*/config.json') + ['models/tiny-qwen35moe/config.json'])
    for f in files:
        name = f.replace('/config.json', '').replace('.json', '').split('/')[-1]
        put('config', name, open(f, 'rb').read())


def small_tokenizer(src, keep):
    t = json.load(open(src))
    vocab = {k: v for k, v in t['model']['vocab'].items() if v < keep}
    merges = []
    for m in t['model']['merges']:
        a, b = m if isinstance(m, list) else m.split(' ')
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(m)
    t['model']['vocab'] = vocab
    t['model']['merges'] = merges
    for i, tok in enumerate(t.get('added_tokens', [])):
        tok['id'] = keep + i
    return json.dumps(t, ensure_ascii=False)


def seeds_tokenizer():
    for name in ('qwen35', 'qwen3', 'gpt2'):
        put('tokenizer', f'{name}_300', small_tokenizer(f'tests/fixtures/tokenizer/{name}/tokenizer.json', 300))
    t = json.loads(small_tokenizer('tests/fixtures/tokenizer/qwen35/tokenizer.json', 300))
    t['model']['merges'] = [' '.join(m) for m in t['model']['merges']]  # legacy "a b" merges
    t['normalizer'] = {'type': 'Sequence', 'normalizers': [{'type': 'NFC'}]}
    put('tokenizer', 'legacy_merges', json.dumps(t, ensure_ascii=False))


def npy(descr, shape, data, fortran=False, version=1):
    tup = '(' + ''.join(f'{d}, ' if len(shape) > 1 else f'{d},' for d in shape).rstrip(', ') + (',' if len(shape) == 1 else '') + ')'
    if len(shape) > 1:
        tup = '(' + ', '.join(str(d) for d in shape) + ')'
    h = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, 'True' if fortran else 'False', tup)
    pre = 10 if version == 1 else 12
    h += ' ' * ((64 - (pre + len(h) + 1) % 64) % 64) + '\n'
    lenfield = struct.pack('<H', len(h)) if version == 1 else struct.pack('<I', len(h))
    return b'\x93NUMPY' + bytes([version, 0]) + lenfield + h.encode() + data


def seeds_npy():
    put('npy', 'f4_2x3', npy('<f4', [2, 3], struct.pack('<6f', *range(6))))
    put('npy', 'f2_4', npy('<f2', [4], b'\x00\x3c' * 4))
    put('npy', 'i8_3', npy('<i8', [3], struct.pack('<3q', 5, 17, 3)))
    put('npy', 'i4_2x2', npy('<i4', [2, 2], struct.pack('<4i', 1, 2, 3, 4)))
    put('npy', 'scalar', npy('<f4', [], struct.pack('<f', 1.5)))
    put('npy', 'v2_header', npy('<f4', [1, 2], struct.pack('<2f', 1, 2), version=2))
    put('npy', 'fortran', npy('<f4', [2, 1], struct.pack('<2f', 1, 2), fortran=True))
    put('npy', 'f8', npy('<f8', [1], struct.pack('<d', 1)))


def seeds_lab():
    for f in sorted(glob.glob('experiments/*.yaml')):
        put('lab_yaml', os.path.basename(f).replace('.yaml', ''), open(f, 'rb').read())
    put('lab_yaml', 'small', '''name: small
model: models/tiny-qwen35moe
workload: {ids: [1, 2, 3], tokens: 4}
repeats: 2
baseline: baseline
variants:
  - baseline
  - {name: t2, switches: {threads: 2, io: mmap}}
matrix: {switches: {k: [4, 8]}}
quality: {ids: "1,2,3,4", max_tokens: 4}
keep: {min_speedup: 1.05, max_kld_mean: 0.01}
''')


def copy_files(target, paths):
    for p in paths or []:
        put(target, os.path.basename(p).replace('.', '_'), open(p, 'rb').read())


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--manifest', nargs='*', help='streammoe.json files written by pack/synth')
    ap.add_argument('--trace', nargs='*', help='routing traces written by --record-routing')
    a = ap.parse_args()
    seeds_safetensors(); seeds_index(); seeds_config(); seeds_tokenizer(); seeds_npy(); seeds_lab()
    copy_files('packed_manifest', a.manifest)
    copy_files('routing_trace', a.trace)
