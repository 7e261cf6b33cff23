# Parley 自己的话（简体中文）。命令（/reset、/translate off）和设置名（temperature、top_p）
# 保持原样：用户就是这样输入的。

## 拒绝与状态

busy = 我正在处理其他消息，请稍后再试。
closing = 我正在重启，请一分钟后再发一次。
engine-error = 抱歉，回答时出了点问题，请再试一次。
empty-answer = （这个问题我没有答案。）
not-saved-question = 抱歉，存储出现故障，我无法保存你的消息，所以没有回答。请稍后再试。
not-saved-answer = 提示：存储出现故障，这段对话没有保存，我可能不会记得它。
rate-limited = 你发消息的速度比我读得还快，请稍等一分钟。
too-long = 这条消息对我来说太长了（{ $got } 个字符；上限是 { $limit }）。请缩短或分开发送。
direct-message-refused = 抱歉，这是一个私人机器人：我只回复名单上的人发来的私信。
private-bot = 抱歉，这是一个私人机器人：我只和名单上的人交谈。
not-enabled-here = 抱歉，我在这里没有启用。
admins-only = 只有管理员可以修改系统提示词。
group-admins-only = 抱歉，在这个群里只有管理员可以为所有人修改这项设置。

## 用一行回答的命令

reset-done = 好了：我已经忘掉这段对话，我们重新开始吧。
nothing-to-retry = 没有你的消息可以重新回答。
still-answering = 我还在回答。如果想让我重新开始，请先发送 /cancel。
cancelled = 已停止。
nothing-to-cancel = 我现在没有在写任何内容。
forgot = { $count ->
    [0] 这个聊天里没有保存你的消息。
   *[other] 已删除你在这个聊天里保存的 { $count } 条消息。
}
system-cleared = 系统提示词已恢复为角色自带的。
system-set = 已为这个聊天设置系统提示词。
system-prompt = 系统提示词：
    { $text }
system-too-long = 这个系统提示词太长了：它大约占 { $tokens } 个 token，而固定内容最多只能占 { $budget } 个（我一次能读的四分之一）。请缩短它。
mode-set = 模式已切换为 { $name }。
unknown-mode = 没有名为 { $name } 的模式。可用模式：{ $known }。
modes-title = 模式
model-set = 模型已切换为 { $name }，对话将继续使用它。
unknown-model = 没有名为 { $name } 的模型。可用模型：{ $known }。
model-unavailable = 抱歉，模型 { $name } 无法加载。这个聊天继续使用原来的模型。
models-title = 模型
list-current = （当前）
list-switch = 用 { $command } NAME 切换。

## 翻译

translate-off = 翻译已关闭。
translate-on = 我会把每条消息翻译成{ $languages }。发送 /translate off 停止。
translate-on-pair = 我会在{ $languages }之间翻译每条消息。发送 /translate off 停止。
translate-status = 正在翻译成{ $languages }。发送 /translate off 停止。
translate-status-off = 翻译已关闭。用 /translate LANG 或 /translate LANG,LANG 开启。
language-pair = { $first }和{ $second }
tr-needs-reply = 用 /tr（或 /tr LANG，例如 /tr de）回复一条消息，我就会翻译它。
tr-nothing = 这条消息里没有需要翻译的内容。
tr-already = 这条消息已经是{ $language }了。试试 /tr LANG 换一种语言。
could-not-translate = 抱歉，我没能把它翻译成{ $language }：我的模型一直用别的语言回答。

## 设置

set-reset = 设置已恢复为默认值。
set-done = 这个聊天的 { $name } 现在是 { $value }。
out-of-bounds = { $name } 必须在 { $low } 到 { $high } 之间。
bound-excluded = { $value }（不含）
value-none = 无
value-random = 随机
settings-title = 这个聊天的设置：
settings-footer = （* 表示在这里设置过）用 /set NAME VALUE 修改；/set reset 恢复默认值。

## 固定的备注

no-notes = 这个聊天里还没有固定任何内容。/remember TEXT 可以固定一条事实，无论聊天多长，它都会留在我的上下文里。
notes-cleared = 已取消固定这个聊天里的所有备注。
notes-title = 这个聊天里固定的内容：
notes-footer = /remember delete N 取消固定一条；/remember clear 全部取消。
note-added = 已固定为第 { $number } 条备注：在这个聊天里我会一直记着，即使在 /reset 之后。
notes-full = 这个聊天已经有 { $max } 条固定备注了。用 /remember delete N 取消固定一条。
note-too-long = 这条备注放不下：它大约占 { $needs } 个 token，而这个聊天只剩 { $room } 个固定 token 的空间（固定内容最多占我一次能读的四分之一）。请缩短它，或用 /remember delete N 取消固定一条。
note-deleted = 已取消固定第 { $number } 条备注：{ $text }
no-such-note = { $count ->
    [0] 没有第 { $number } 条备注：这个聊天里没有固定任何内容。
    [1] 没有第 { $number } 条备注：只固定了第 1 条。
   *[other] 没有第 { $number } 条备注：备注编号为 1 到 { $count }。
}

## /stats

stats = 已保存的轮次：{ $stored }
    窗口内：{ $turns } 轮，{ $tokens } / { $budget } 个 token（为回答预留 { $reserved } 个）
    移出窗口：{ $dropped }
stats-last = 上次回答：{ $prompt } 个提示 token 中有 { $cached } 个来自本聊天的缓存，{ $shared } 个来自共享的人设提示，{ $speed } token/秒
stats-sampling = 采样：temperature { $temperature }，top_p { $top_p }，max_tokens { $max_tokens }
    模型：{ $model }

## /why

no-record = 我没有这条消息的记录：要么不是我写的，要么比我保存的记录更早。请用 /why 回复我的某条回答，或者单独发送 /why 查看我最近的一条。
no-answer-yet = 这个聊天里我还没有可以解释的回答。
why-source-system = 这个聊天自己的 /system 提示词
why-source-translation = 翻译提示词
why-source-persona = 角色“{ $persona }”（/mode）
why-stop-end = 模型结束了它的发言
why-stop-max-tokens = 达到了 max_tokens（或上下文的末尾）
why-stop-string = 遇到了这个聊天的某个停止字符串
why-stop-cancelled = 被取消了
why-stop-failed = 引擎中途出错
why-seed-repeatable = 种子 { $seed }（/set seed { $seed } 会再次给出同样的回答）
why-seed-unused = 种子 { $seed }（未使用：temperature 为 0 时总是选择最可能的词）
why-no-seed = 无种子
why-head = 我是这样写出那条回答的：
    模型：{ $model }（{ $engine } 引擎）
    指令：{ $source }，{ $notes_total } 条固定备注中用了 { $notes_used } 条
why-conversation = 对话：包含之前的 { $included } 轮，{ $dropped } 轮被窗口排除
    提示：{ $prompt } 个 token（固定 { $pinned }，历史 { $history }，新内容 { $new }），其中 { $cached } 个复用自本聊天的缓存，{ $shared } 个来自共享的人设提示
why-translation-prompt = 提示：{ $prompt } 个 token，其中 { $cached } 个复用自本聊天的缓存，{ $shared } 个来自共享的人设提示
why-answer = 回答：{ $tokens } 个 token；停止原因：{ $stop }
    采样：temperature { $temperature }，top_p { $top_p }，top_k { $top_k }，重复惩罚 { $penalty }，max_tokens { $max_tokens }，{ $stops } 个停止字符串，{ $seed }
    速度：首个 token 用时 { $first } 秒，{ $speed } token/秒

## 文件

size-bytes = { $count ->
   *[other] { $count } 字节
}
files-we-read = 我可以读取不超过 { $size } 的文本文件（txt、md、csv、json、log、源代码等）。
file-too-large = { $name } 对我来说太大了（{ $size }）。{ $readable }
file-is-media = 抱歉，我打不开{ $kind }（{ $name }）。{ $readable }
media-images = 图片
media-audio = 音频文件
media-video = 视频
file-not-text = 抱歉，{ $name } 不是我能读取的文本文件。{ $readable }
file-not-fetched = 抱歉，我无法下载 { $name }。请重新发送一次。

## 命令菜单和 /help

help-title = 命令：
help-admins = （管理员）
usage = 用法：{ $command }
usage-unknown = 发送 /help 查看命令。
command-help = 列出所有命令
command-reset = 忘掉这段对话，重新开始
command-retry = 重新回答上一条消息
command-mode = 切换角色，或列出所有角色
command-model = 切换这个聊天的模型，或列出所有模型
command-system = 设置或查看这个聊天的系统提示词
command-translate = 翻译每条消息：一种语言或一对语言（en,zh），或 off 关闭
command-tr = 回复某条消息时使用：翻译它（译成 LANG）
command-set = 查看或修改 temperature、top_p、max_tokens、seed 或 stop，或全部重置
command-remember = 固定一条事实到每次回答的上下文中，或列出已固定的内容
command-stats = 查看上下文窗口和速度
command-why = 解释上一条回答（或你回复的那条）是怎么生成的
command-cancel = 停止正在写的回答
command-forget = 删除你在这里的消息及由它们生成的内容（或你的笔记，或全部）
command-export = 私下获取一个文件，包含我保存的关于你的全部内容
command-privacy = 我保存什么、保存多久、发送到哪里、如何删除

## 命令中的错误

unknown-command = 未知命令 /{ $command }。发送 /help 查看列表。
unknown-command-near = 未知命令 /{ $command }。你是想用 /{ $suggestion } 吗？发送 /help 查看列表。
unknown-language = 未知语言“{ $word }”。请使用 en、zh、fr、de、es、ja 这样的代码。{ $usage }
too-many-languages = 最多两种语言（一对语言会双向翻译）。{ $usage }
note-number = 请给出要删除的备注编号（按 /remember 列出的顺序），例如 /remember delete 2
note-chars = 一条备注最多 { $max } 个字符（这条有 { $count } 个）。
unknown-setting = 未知设置“{ $name }”：请使用 temperature、top_p、max_tokens、seed、stop 或 reset。
takes-number = { $name } 需要一个数字，例如 /set { $name } { $example }
seed-whole = seed 需要一个整数或 "random"，例如 /set seed 42
max-tokens-whole = max_tokens 需要一个整数，例如 /set max_tokens 300
stop-quotes = 请把每个停止字符串放在引号里。{ $usage }
stop-unclosed = 有一个引号没有闭合。{ $usage }
stop-empty = 停止字符串不能为空。
stop-too-many = 最多 { $max } 个停止字符串。
stop-too-long = 停止字符串最多 { $max } 个字符。

## 语言名称

language-en = 英语
language-zh = 中文
language-es = 西班牙语
language-fr = 法语
language-de = 德语
language-ja = 日语
language-ko = 韩语
language-ru = 俄语
language-pt = 葡萄牙语
language-it = 意大利语
language-ar = 阿拉伯语
language-hi = 印地语
language-nl = 荷兰语
language-pl = 波兰语
language-tr = 土耳其语
language-uk = 乌克兰语
language-vi = 越南语
language-id = 印度尼西亚语
language-th = 泰语
language-sv = 瑞典语
language-da = 丹麦语
language-nb = 挪威语
language-fi = 芬兰语
language-cs = 捷克语
language-sk = 斯洛伐克语
language-hu = 匈牙利语
language-ro = 罗马尼亚语
language-el = 希腊语
language-he = 希伯来语
language-bg = 保加利亚语
language-sr = 塞尔维亚语
language-hr = 克罗地亚语
language-ca = 加泰罗尼亚语
language-fa = 波斯语
language-ur = 乌尔都语
language-bn = 孟加拉语
language-ta = 泰米尔语
language-ka = 格鲁吉亚语
language-hy = 亚美尼亚语
language-tl = 他加禄语

## Privacy: /forget, /export, /privacy

forgot-made = 同时删除了：由它们生成的我的回答和翻译 { $answers } 条，以及 /why 记录 { $records } 条。
forgot-notes = 已删除你在这个聊天里固定的 { $count } 条笔记。
notes-kept = 你在这里固定的笔记仍然保留（用 /forget notes 删除）：
    { $notes }
export-sent = 我已私下给你发送了一个文件，包含我保存的关于你的全部内容。
export-caption = Parley 保存的关于你的全部内容：你的消息、对它们的回答、你的笔记以及你私聊的设置。
export-failed = 我无法私下给你发送文件。请先和我开始私聊，然后再发送 /export。
export-too-soon = 每小时只能导出一次：请在 { $minutes } 分钟后再试。
privacy-stored = 我保存的内容：你在每个聊天里的消息和我的回答、用 /remember 固定的笔记、每个聊天的设置，以及关于每个回答的数字（/why）。这些都保存在运行我的机器上的一个数据库文件里。
privacy-kept-forever = 保存多久：直到你删除为止；这个机器人不限时间地保存历史。
privacy-kept-days = 保存多久：{ $days } 天；更早的消息、回答和记录会被删除。
privacy-local = 发送到哪里：哪里都不发送。模型在这台机器上运行，任何文字都不会离开它。
privacy-remote = 发送到哪里：为了写出回答，对话会发送到这个机器人所用的语言模型服务器。
privacy-delete = 如何删除：/forget 删除你在这里的消息及由它们生成的一切，/forget notes 删除你固定的笔记，/forget all 两者都删；/reset 删除整个对话；/export 把所有内容的副本发给你。
