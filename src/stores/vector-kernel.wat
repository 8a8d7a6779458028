;; Inner-product kernel of the embedded vector index (src/stores/vector-kernel.ts owns the memory layout).
;; Regenerate src/stores/vector-kernel-wasm.ts after editing: npm run build:wasm (a test fails while it is stale).
;;
;; Rows are float32, `stride` floats apart, stride a multiple of 4; lanes past the vector's dim are zero in rows and
;; query alike, so they add nothing and no scalar tail is needed.
;;
;; Every row is summed in the same order whether it falls in an 8-row block or in the leftover rows, and wherever the
;; range starts: a row's score must not depend on which range it was scored in (searches, the query cache and
;; ties by id all compare scores of one row taken from different calls).
(module
  ;; Imported, not defined here: the host sizes and grows it, and keeps its views.
  (import "env" "memory" (memory 1 65536))

  ;; [sum(a), sum(b), sum(c), sum(d)], each summed as (x0 + x2) + (x1 + x3).
  (func $hsum4 (param $a v128) (param $b v128) (param $c v128) (param $d v128) (result v128)
    (local $ab v128)
    (local $cd v128)
    ;; [a0+a2, a1+a3, b0+b2, b1+b3]
    (local.set $ab
      (f32x4.add
        (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a) (local.get $b))
        (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a) (local.get $b))))
    (local.set $cd
      (f32x4.add
        (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $c) (local.get $d))
        (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $c) (local.get $d))))
    (f32x4.add
      (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $ab) (local.get $cd))
      (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $ab) (local.get $cd))))

  ;; out[i] = <query, row i> for the n rows starting at byte address $rows; $query, $rows and $out are byte
  ;; addresses, $stride counts floats.
  ;;
  ;; Eight rows at a time, one accumulator each: eight independent add chains keep the SIMD units busy instead of
  ;; waiting on one chain's add latency, each query chunk is loaded once for eight rows, and eight rows' loads in
  ;; flight together get more out of memory when the rows are not in cache (the usual case: a probe reads lists
  ;; scattered over the whole matrix). Measured slower: twelve rows, and four rows with two accumulators each
  ;; (V8 has 16 SIMD registers to give out, and spills past them).
  (func (export "dots")
    (param $query i32) (param $rows i32) (param $n i32) (param $stride i32) (param $out i32)
    (local $rowBytes i32)
    (local $queryEnd i32)
    (local $end i32)
    (local $q i32)
    (local $qv v128)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32)
    (local $p4 i32) (local $p5 i32) (local $p6 i32) (local $p7 i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local.set $rowBytes (i32.shl (local.get $stride) (i32.const 2)))
    (local.set $queryEnd (i32.add (local.get $query) (local.get $rowBytes)))
    ;; Output address where the 8-row blocks stop.
    (local.set $end (i32.add (local.get $out) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))

    (block $blocksDone
      (loop $blocks
        (br_if $blocksDone (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $p0 (local.get $rows))
        (local.set $p1 (i32.add (local.get $p0) (local.get $rowBytes)))
        (local.set $p2 (i32.add (local.get $p1) (local.get $rowBytes)))
        (local.set $p3 (i32.add (local.get $p2) (local.get $rowBytes)))
        (local.set $p4 (i32.add (local.get $p3) (local.get $rowBytes)))
        (local.set $p5 (i32.add (local.get $p4) (local.get $rowBytes)))
        (local.set $p6 (i32.add (local.get $p5) (local.get $rowBytes)))
        (local.set $p7 (i32.add (local.get $p6) (local.get $rowBytes)))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $a2 (v128.const i32x4 0 0 0 0))
        (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $a4 (v128.const i32x4 0 0 0 0))
        (local.set $a5 (v128.const i32x4 0 0 0 0))
        (local.set $a6 (v128.const i32x4 0 0 0 0))
        (local.set $a7 (v128.const i32x4 0 0 0 0))
        (local.set $q (local.get $query))
        (block $chunksDone
          (loop $chunks
            (br_if $chunksDone (i32.ge_u (local.get $q) (local.get $queryEnd)))
            (local.set $qv (v128.load (local.get $q)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $qv) (v128.load (local.get $p0)))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $qv) (v128.load (local.get $p1)))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $qv) (v128.load (local.get $p2)))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $qv) (v128.load (local.get $p3)))))
            (local.set $a4 (f32x4.add (local.get $a4) (f32x4.mul (local.get $qv) (v128.load (local.get $p4)))))
            (local.set $a5 (f32x4.add (local.get $a5) (f32x4.mul (local.get $qv) (v128.load (local.get $p5)))))
            (local.set $a6 (f32x4.add (local.get $a6) (f32x4.mul (local.get $qv) (v128.load (local.get $p6)))))
            (local.set $a7 (f32x4.add (local.get $a7) (f32x4.mul (local.get $qv) (v128.load (local.get $p7)))))
            (local.set $q (i32.add (local.get $q) (i32.const 16)))
            (local.set $p0 (i32.add (local.get $p0) (i32.const 16)))
            (local.set $p1 (i32.add (local.get $p1) (i32.const 16)))
            (local.set $p2 (i32.add (local.get $p2) (i32.const 16)))
            (local.set $p3 (i32.add (local.get $p3) (i32.const 16)))
            (local.set $p4 (i32.add (local.get $p4) (i32.const 16)))
            (local.set $p5 (i32.add (local.get $p5) (i32.const 16)))
            (local.set $p6 (i32.add (local.get $p6) (i32.const 16)))
            (local.set $p7 (i32.add (local.get $p7) (i32.const 16)))
            (br $chunks)))
        (v128.store (local.get $out) (call $hsum4 (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)))
        (v128.store offset=16 (local.get $out) (call $hsum4 (local.get $a4) (local.get $a5) (local.get $a6) (local.get $a7)))
        ;; $p7 has walked to the end of the block's last row: the next block starts there.
        (local.set $rows (local.get $p7))
        (local.set $out (i32.add (local.get $out) (i32.const 32)))
        (br $blocks)))

    ;; The last n mod 8 rows, one at a time, with the same per-row operations in the same order as above.
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 7)) (i32.const 2))))
    (block $rowsDone
      (loop $rest
        (br_if $rowsDone (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $q (local.get $query))
        (block $chunksDone
          (loop $chunks
            (br_if $chunksDone (i32.ge_u (local.get $q) (local.get $queryEnd)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load (local.get $q)) (v128.load (local.get $rows)))))
            (local.set $q (i32.add (local.get $q) (i32.const 16)))
            (local.set $rows (i32.add (local.get $rows) (i32.const 16)))
            (br $chunks)))
        (f32.store (local.get $out)
          (f32x4.extract_lane 0 (call $hsum4 (local.get $a0) (local.get $a0) (local.get $a0) (local.get $a0))))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (br $rest))))

  ;; out[i] = <query, row idx[i]> for i < n: the rows are named by the int32s at byte address $idx, each a row
  ;; number counted from byte address $matrix. Rows appended to an IVF list since its build lie scattered over the
  ;; matrix; one call scores them all. Each row is summed with the same operations in the same order as in `dots`,
  ;; so a row scores the same here as there.
  (func (export "dots_at")
    (param $query i32) (param $matrix i32) (param $idx i32) (param $n i32) (param $stride i32) (param $out i32)
    (local $rowBytes i32)
    (local $queryEnd i32)
    (local $end i32)
    (local $q i32)
    (local $row i32)
    (local $a0 v128)
    (local.set $rowBytes (i32.shl (local.get $stride) (i32.const 2)))
    (local.set $queryEnd (i32.add (local.get $query) (local.get $rowBytes)))
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (block $rowsDone
      (loop $rest
        (br_if $rowsDone (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $row (i32.add (local.get $matrix) (i32.mul (i32.load (local.get $idx)) (local.get $rowBytes))))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $q (local.get $query))
        (block $chunksDone
          (loop $chunks
            (br_if $chunksDone (i32.ge_u (local.get $q) (local.get $queryEnd)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load (local.get $q)) (v128.load (local.get $row)))))
            (local.set $q (i32.add (local.get $q) (i32.const 16)))
            (local.set $row (i32.add (local.get $row) (i32.const 16)))
            (br $chunks)))
        (f32.store (local.get $out)
          (f32x4.extract_lane 0 (call $hsum4 (local.get $a0) (local.get $a0) (local.get $a0) (local.get $a0))))
        (local.set $idx (i32.add (local.get $idx) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (br $rest))))

  ;; Writes to $idx, ascending, the i < n with !(scores[i] < threshold), NaN included; returns how many. A search
  ;; only looks at rows that can still enter its top k: picking them here, four lanes per compare, spares the JS
  ;; side a branch per row (and the mispredictions: a row passes at random, a few times in ten at first).
  (func (export "above") (param $scores i32) (param $n i32) (param $threshold f32) (param $idx i32) (result i32)
    (local $t v128)
    (local $i i32)
    (local $end4 i32)
    (local $count i32)
    (local $mask i32)
    (local.set $t (f32x4.splat (local.get $threshold)))
    (local.set $end4 (i32.and (local.get $n) (i32.const -4)))
    (block $blocksDone
      (loop $blocks
        (br_if $blocksDone (i32.ge_u (local.get $i) (local.get $end4)))
        (local.set $mask
          (i32x4.bitmask
            (v128.not (f32x4.lt (v128.load (i32.add (local.get $scores) (i32.shl (local.get $i) (i32.const 2)))) (local.get $t)))))
        ;; Usually no lane passes once the threshold has settled; when some do, each lane's index is written at
        ;; the next free place and kept only if its bit is set, with no branch per lane.
        (if (local.get $mask)
          (then
            (i32.store (i32.add (local.get $idx) (i32.shl (local.get $count) (i32.const 2))) (local.get $i))
            (local.set $count (i32.add (local.get $count) (i32.and (local.get $mask) (i32.const 1))))
            (i32.store (i32.add (local.get $idx) (i32.shl (local.get $count) (i32.const 2))) (i32.add (local.get $i) (i32.const 1)))
            (local.set $count (i32.add (local.get $count) (i32.and (i32.shr_u (local.get $mask) (i32.const 1)) (i32.const 1))))
            (i32.store (i32.add (local.get $idx) (i32.shl (local.get $count) (i32.const 2))) (i32.add (local.get $i) (i32.const 2)))
            (local.set $count (i32.add (local.get $count) (i32.and (i32.shr_u (local.get $mask) (i32.const 2)) (i32.const 1))))
            (i32.store (i32.add (local.get $idx) (i32.shl (local.get $count) (i32.const 2))) (i32.add (local.get $i) (i32.const 3)))
            (local.set $count (i32.add (local.get $count) (i32.shr_u (local.get $mask) (i32.const 3))))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $blocks)))
    (block $rowsDone
      (loop $rest
        (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.eqz (f32.lt (f32.load (i32.add (local.get $scores) (i32.shl (local.get $i) (i32.const 2)))) (local.get $threshold)))
          (then
            (i32.store (i32.add (local.get $idx) (i32.shl (local.get $count) (i32.const 2))) (local.get $i))
            (local.set $count (i32.add (local.get $count) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rest)))
    (local.get $count))
)
