// SinkAnswer: how the consumer of a stream (a response body, a media
// download) answers each piece handed to it.
#ifndef DYNOGUARD_WORKER_MODEL_SINK_ANSWER_H_
#define DYNOGUARD_WORKER_MODEL_SINK_ANSWER_H_

namespace dynoguard::worker {

enum class SinkAnswer {
  kContinue,  // the piece is taken; send the next one
  kPause,     // the piece is NOT taken: it is handed over again, whole, once
              // the producer is resumed
  kAbort,     // stop the stream; nothing more is handed over
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_MODEL_SINK_ANSWER_H_
