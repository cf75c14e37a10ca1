// A record processor on the npm `aws-kcl` library (its MultiLang protocol side), for
// cli/tests/multilang_peers.rs. It appends one JSON line per record and per life-cycle event
// to $ML_OUT, checkpoints at the last record of every batch, at shard end and on shutdown.
'use strict';
const fs = require('fs');
const kcl = require('aws-kcl');

const out = process.env.ML_OUT;
const note = (o) => fs.appendFileSync(out, JSON.stringify(o) + '\n');

function recordProcessor() {
  let shardId;
  return {
    initialize: function (input, done) {
      shardId = input.shardId;
      note({ event: 'initialize', shardId, sequenceNumber: input.sequenceNumber });
      done();
    },
    processRecords: function (input, done) {
      for (const r of input.records) {
        note({
          event: 'record', shardId, partitionKey: r.partitionKey,
          sequenceNumber: r.sequenceNumber, subSequenceNumber: r.subSequenceNumber,
          data: Buffer.from(r.data, 'base64').toString(),
        });
      }
      const last = input.records[input.records.length - 1];
      input.checkpointer.checkpoint(last.sequenceNumber, function (err, seq) {
        note({ event: 'checkpoint', shardId, sequenceNumber: seq, error: err || null });
        done();
      });
    },
    leaseLost: function (input, done) {
      note({ event: 'leaseLost', shardId });
      done();
    },
    shardEnded: function (input, done) {
      input.checkpointer.checkpoint(function (err) {
        note({ event: 'shardEnded', shardId, error: err || null });
        done();
      });
    },
    shutdownRequested: function (input, done) {
      input.checkpointer.checkpoint(function (err) {
        note({ event: 'shutdownRequested', shardId, error: err || null });
        done();
      });
    },
  };
}

kcl(recordProcessor()).run();
