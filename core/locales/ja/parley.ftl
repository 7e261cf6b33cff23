# Parley 自身の言葉（日本語）。コマンド（/reset、/translate off）と設定名（temperature、top_p）は
# そのまま残します：ユーザーはそのとおりに入力するからです。

## お断りと状態

busy = ただいま他のメッセージに対応中です。少し待ってからもう一度お試しください。
closing = 再起動しています。1分ほどしてからもう一度送ってください。
engine-error = すみません、回答中に問題が起きました。もう一度お試しください。
empty-answer = （それにはお答えできません。）
not-saved-question = すみません、保存領域の問題でメッセージを保存できなかったため、回答していません。しばらくしてからもう一度お試しください。
not-saved-answer = 注意：保存領域の問題でこのやり取りを保存できませんでした。覚えていない可能性があります。
rate-limited = 私が読むより速くメッセージが届いています。1分ほどお待ちください。
too-long = このメッセージは長すぎます（{ $got } 文字、上限は { $limit } 文字）。短くするか、分けて送ってください。
direct-message-refused = すみません、これはプライベートなボットです。リストに載っている人からのダイレクトメッセージにしか返信しません。
private-bot = すみません、これはプライベートなボットです。リストに載っている人としか話しません。
not-enabled-here = すみません、ここでは有効になっていません。
admins-only = システムプロンプトを変更できるのは管理者だけです。
group-admins-only = すみません、このグループでは全員向けの変更は管理者しかできません。

## 一行で答えるコマンド

reset-done = 完了しました。この会話は忘れました。新しく始めましょう。
nothing-to-retry = もう一度答えられるあなたのメッセージがありません。
still-answering = まだ回答中です。最初からやり直す場合は、先に /cancel を送ってください。
cancelled = 停止しました。
nothing-to-cancel = 今は何も書いていません。
forgot = { $count ->
    [0] このチャットに保存されたあなたのメッセージはありませんでした。
   *[other] このチャットに保存されていたあなたのメッセージ { $count } 件を削除しました。
}
system-cleared = システムプロンプトをペルソナのものに戻しました。
system-set = このチャットのシステムプロンプトを設定しました。
system-prompt = システムプロンプト：
    { $text }
system-too-long = このシステムプロンプトは長すぎます。約 { $tokens } トークンありますが、固定できるのは最大 { $budget } トークン（一度に読める量の4分の1）です。短くしてください。
mode-set = モードを { $name } にしました。
unknown-mode = { $name } というモードはありません。モード：{ $known }。
modes-title = モード
model-set = モデルを { $name } にしました。会話はこのまま続きます。
unknown-model = { $name } というモデルはありません。モデル：{ $known }。
model-unavailable = すみません、モデル { $name } を読み込めませんでした。このチャットは今のモデルのままです。
models-title = モデル
list-current = （現在）
list-switch = { $command } NAME で切り替えます。

## 翻訳

translate-off = 翻訳はオフです。
translate-on = すべてのメッセージを{ $languages }に翻訳します。止めるには /translate off を送ってください。
translate-on-pair = すべてのメッセージを{ $languages }の間で翻訳します。止めるには /translate off を送ってください。
translate-status = { $languages }に翻訳中です。止めるには /translate off を送ってください。
translate-status-off = 翻訳はオフです。/translate LANG または /translate LANG,LANG でオンにできます。
language-pair = { $first }と{ $second }
tr-needs-reply = メッセージに /tr（または /tr LANG、例：/tr de）で返信すると翻訳します。
tr-nothing = このメッセージには翻訳するものがありません。
tr-already = このメッセージはすでに{ $language }です。別の言語なら /tr LANG をお試しください。
could-not-translate = すみません、{ $language }に翻訳できませんでした。モデルが別の言語で答え続けました。

## 設定

set-reset = 設定を既定値に戻しました。
set-done = このチャットの { $name } を { $value } にしました。
out-of-bounds = { $name } は { $low } から { $high } の間で指定してください。
bound-excluded = { $value }（含まない）
value-none = なし
value-random = ランダム
settings-title = このチャットの設定：
settings-footer = （* はここで設定したもの）/set NAME VALUE で変更、/set reset で既定値に戻します。

## 固定メモ

no-notes = このチャットには何も固定されていません。/remember TEXT で、チャットがどれだけ長くなってもコンテキストに残る事実を固定できます。
notes-cleared = このチャットのメモをすべて固定解除しました。
notes-title = このチャットに固定中：
notes-footer = /remember delete N で1つ解除、/remember clear ですべて解除します。
note-added = メモ { $number } として固定しました。/reset の後も、このチャットでは覚えておきます。
notes-full = このチャットにはすでに { $max } 件のメモが固定されています。/remember delete N で1つ解除してください。
note-too-long = このメモは入りません。約 { $needs } トークンありますが、このチャットで固定できる残りは { $room } トークンです（固定できるのは一度に読める量の4分の1まで）。短くするか、/remember delete N で1つ解除してください。
note-deleted = メモ { $number } を固定解除しました：{ $text }
no-such-note = { $count ->
    [0] メモ { $number } はありません。このチャットには何も固定されていません。
    [1] メモ { $number } はありません。固定されているのはメモ 1 だけです。
   *[other] メモ { $number } はありません。メモの番号は 1 から { $count } までです。
}

## /stats

stats = 保存済みのターン：{ $stored }
    ウィンドウ内：{ $turns } ターン、{ $tokens } / { $budget } トークン（回答用に { $reserved } を確保）
    ウィンドウから外れたもの：{ $dropped }
stats-last = 前回の回答：プロンプト { $prompt } トークン中 { $cached } がこのチャットのキャッシュから、{ $shared } が共有ペルソナプロンプトから、{ $speed } トークン/秒
stats-sampling = サンプリング：temperature { $temperature }、top_p { $top_p }、max_tokens { $max_tokens }
    モデル：{ $model }

## /why

no-record = そのメッセージの記録がありません。私が書いたものではないか、保存している範囲より古いものです。私の回答に /why で返信するか、/why だけを送ると直近の回答について説明します。
no-answer-yet = このチャットにはまだ説明できる回答がありません。
why-source-system = このチャット独自の /system プロンプト
why-source-translation = 翻訳用プロンプト
why-source-persona = ペルソナ「{ $persona }」（/mode）
why-stop-end = モデルが発言を終えた
why-stop-max-tokens = max_tokens（またはコンテキストの終わり）に達した
why-stop-string = このチャットの停止文字列に出会った
why-stop-cancelled = キャンセルされた
why-stop-failed = エンジンが途中で失敗した
why-seed-repeatable = シード { $seed }（/set seed { $seed } で同じ回答がもう一度得られます）
why-seed-unused = シード { $seed }（未使用：temperature 0 では常に最も確からしい語が選ばれます）
why-no-seed = シードなし
why-head = その回答はこうして書きました：
    モデル：{ $model }（{ $engine } エンジン）
    指示：{ $source }、固定メモ { $notes_total } 件中 { $notes_used } 件
why-conversation = 会話：以前のターン { $included } 件を含み、{ $dropped } 件はウィンドウから外れました
    プロンプト：{ $prompt } トークン（固定 { $pinned }、履歴 { $history }、新規 { $new }）、うち { $cached } をこのチャットのキャッシュから、{ $shared } を共有ペルソナプロンプトから再利用
why-translation-prompt = プロンプト：{ $prompt } トークン、うち { $cached } をこのチャットのキャッシュから、{ $shared } を共有ペルソナプロンプトから再利用
why-answer = 回答：{ $tokens } トークン。止まった理由：{ $stop }
    サンプリング：temperature { $temperature }、top_p { $top_p }、top_k { $top_k }、繰り返しペナルティ { $penalty }、max_tokens { $max_tokens }、停止文字列 { $stops } 個、{ $seed }
    速度：最初のトークンまで { $first } 秒、{ $speed } トークン/秒

## ファイル

size-bytes = { $count ->
   *[other] { $count } バイト
}
files-we-read = 読めるのは { $size } までのテキストファイル（txt、md、csv、json、log、ソースコードなど）です。
file-too-large = { $name } は大きすぎます（{ $size }）。{ $readable }
file-is-media = すみません、{ $kind }は開けません（{ $name }）。{ $readable }
media-images = 画像
media-audio = 音声ファイル
media-video = 動画
file-not-text = すみません、{ $name } は読めるテキストファイルではありません。{ $readable }
file-not-fetched = すみません、{ $name } をダウンロードできませんでした。もう一度送ってください。

## コマンドメニューと /help

help-title = コマンド：
help-admins = （管理者）
usage = 使い方：{ $command }
usage-unknown = /help を送るとコマンドの一覧が見られます。
command-help = コマンドの一覧を表示
command-reset = この会話を忘れて最初からやり直す
command-retry = 最後のメッセージにもう一度答える
command-mode = ペルソナを切り替える、または一覧を表示
command-model = このチャットのモデルを切り替える、または一覧を表示
command-system = このチャットのシステムプロンプトを設定、または表示
command-translate = すべてのメッセージを翻訳：1言語か言語のペア（en,zh）、または off
command-tr = メッセージへの返信で使うと、それを翻訳（LANG へ）
command-set = temperature、top_p、max_tokens、seed、stop の表示・変更、またはリセット
command-remember = 毎回の回答のコンテキストに残る事実を固定、または固定中の一覧を表示
command-stats = コンテキストウィンドウと速度を表示
command-why = 直前の回答（または返信先の回答）がどう作られたかを説明
command-cancel = 書いている途中の回答を止める
command-forget = ここでのあなたのメッセージとそこから作られたものを削除（またはメモ、またはすべて）
command-export = 私が保存しているあなたに関するすべてをファイルで個別に受け取る
command-privacy = 何を、どれだけの期間保存し、どこへ送り、どう削除するか

## コマンドの誤り

unknown-command = 不明なコマンド /{ $command } です。一覧は /help で見られます。
unknown-command-near = 不明なコマンド /{ $command } です。/{ $suggestion } のことですか？一覧は /help で見られます。
unknown-language = 不明な言語「{ $word }」です。en、zh、fr、de、es、ja のようなコードを使ってください。{ $usage }
too-many-languages = 言語は2つまでです（ペアは双方向に翻訳します）。{ $usage }
note-number = 削除するメモの番号を /remember の一覧どおりに指定してください。例：/remember delete 2
note-chars = メモは { $max } 文字までです（これは { $count } 文字あります）。
unknown-setting = 不明な設定「{ $name }」です。temperature、top_p、max_tokens、seed、stop、reset のいずれかを使ってください。
takes-number = { $name } には数値を指定します。例：/set { $name } { $example }
seed-whole = seed には整数か "random" を指定します。例：/set seed 42
max-tokens-whole = max_tokens には整数を指定します。例：/set max_tokens 300
stop-quotes = 停止文字列はそれぞれ引用符で囲んでください。{ $usage }
stop-unclosed = 引用符が閉じられていません。{ $usage }
stop-empty = 停止文字列は空にできません。
stop-too-many = 停止文字列は { $max } 個までです。
stop-too-long = 停止文字列は { $max } 文字までです。

## 言語名

language-en = 英語
language-zh = 中国語
language-es = スペイン語
language-fr = フランス語
language-de = ドイツ語
language-ja = 日本語
language-ko = 韓国語
language-ru = ロシア語
language-pt = ポルトガル語
language-it = イタリア語
language-ar = アラビア語
language-hi = ヒンディー語
language-nl = オランダ語
language-pl = ポーランド語
language-tr = トルコ語
language-uk = ウクライナ語
language-vi = ベトナム語
language-id = インドネシア語
language-th = タイ語
language-sv = スウェーデン語
language-da = デンマーク語
language-nb = ノルウェー語
language-fi = フィンランド語
language-cs = チェコ語
language-sk = スロバキア語
language-hu = ハンガリー語
language-ro = ルーマニア語
language-el = ギリシャ語
language-he = ヘブライ語
language-bg = ブルガリア語
language-sr = セルビア語
language-hr = クロアチア語
language-ca = カタルーニャ語
language-fa = ペルシア語
language-ur = ウルドゥー語
language-bn = ベンガル語
language-ta = タミル語
language-ka = ジョージア語
language-hy = アルメニア語
language-tl = タガログ語

## Privacy: /forget, /export, /privacy

forgot-made = あわせて削除しました：それらから作られた私の回答と翻訳 { $answers } 件、/why の記録 { $records } 件。
forgot-notes = このチャットであなたが固定したメモ { $count } 件を削除しました。
notes-kept = ここであなたが固定したメモは残っています（/forget notes で削除できます）：
    { $notes }
export-sent = 私が保存しているあなたに関するすべてを、ファイルで個別に送りました。
export-caption = Parley が保存しているあなたに関するすべて：あなたのメッセージ、それへの回答、メモ、ダイレクトチャットの設定。
export-failed = ファイルを個別に送れませんでした。私とのダイレクトチャットを始めてから、もう一度 /export を送ってください。
export-too-soon = エクスポートは1時間に1回です。{ $minutes } 分後にもう一度お試しください。
privacy-stored = 保存するもの：各チャットでのあなたのメッセージと私の回答、/remember で固定したメモ、各チャットの設定、各回答についての数値（/why）。すべて、私を動かしているマシン上の1つのデータベースファイルに残ります。
privacy-kept-forever = 保存期間：あなたが削除するまで。このボットは履歴を期限なしで保存します。
privacy-kept-days = 保存期間：{ $days } 日。それより古いメッセージ、回答、記録は削除されます。
privacy-local = 送信先：どこにも送りません。モデルはこのマシン上で動き、テキストは外に出ません。
privacy-remote = 送信先：回答を書くため、会話はこのボットが使う言語モデルのサーバーに送られます。
privacy-delete = 削除の方法：/forget はここでのあなたのメッセージとそこから作られたものを削除、/forget notes は固定したメモを削除、/forget all は両方を削除します。/reset はこの会話全体を削除し、/export はすべてのコピーを送ります。
